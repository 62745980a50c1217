internal import CReckonLibXML2
import ReckonCore

/// What kind of node the reader stands on.
enum XMLNodeKind: Equatable {
    case element, endElement, text, other
}

/// A hardened pull reader over libxml2's `xmlTextReader` (streaming, not a DOM).
///
/// Hardening: no network (`XML_PARSE_NONET`), no entity substitution, no DTD loading, and any
/// document type declaration is refused outright — so a billion-laughs file and an XXE file
/// stop with a clear error before anything is expanded or fetched. Invoices never need a DTD.
///
/// Owns the libxml2 reader and frees it on deinit; nothing of libxml2 leaves this type.
/// - Memory: libxml2's parser state for the current node; the input buffer is owned by the caller.
struct XMLStreamReader: ~Copyable {
    private let reader: OpaquePointer
    private let buffer: UnsafeMutableBufferPointer<UInt8>
    let file: String

    init(bytes: [UInt8], file: String) throws(ReckonError) {
        if let line = Self.doctypeLine(bytes) {
            throw ReckonError(.badData,
                              "document type declarations (DTD) are refused: entity expansion and external entities are not allowed in invoices",
                              at: SourcePosition(file: file, line: line))
        }
        reckon_xml_silence_generic_errors()
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        _ = buffer.initialize(from: bytes)
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOCDATA.rawValue | XML_PARSE_COMPACT.rawValue)
        let r = buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
            xmlReaderForMemory($0, Int32(bytes.count), file, nil, options)
        }
        guard let r else {
            buffer.deallocate()
            throw ReckonError(.badData, "libxml2 could not start reading the document", at: SourcePosition(file: file))
        }
        self.file = file
        self.buffer = buffer
        self.reader = r
    }

    /// The line of a `<!DOCTYPE` in the prolog (before the root element), found without parsing it.
    static func doctypeLine(_ b: [UInt8]) -> Int? {
        var i = 0, line = 1
        if b.count >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { i = 3 }
        func starts(_ s: String) -> Bool {
            let u = Array(s.utf8)
            return i + u.count <= b.count && Array(b[i..<i + u.count]) == u
        }
        func skip(past end: String) {
            let u = Array(end.utf8)
            while i < b.count && !starts(end) { if b[i] == 0x0A { line += 1 }; i += 1 }
            i = min(b.count, i + u.count)
        }
        while i < b.count {
            let c = b[i]
            if c == 0x0A { line += 1; i += 1; continue }
            if c == 0x20 || c == 0x09 || c == 0x0D { i += 1; continue }
            if starts("<?") { skip(past: "?>"); continue }
            if starts("<!--") { skip(past: "-->"); continue }
            return starts("<!DOCTYPE") || starts("<!doctype") ? line : nil
        }
        return nil
    }

    deinit {
        xmlFreeTextReader(reader)
        buffer.deallocate()
    }

    /// Advances to the next node; `false` at the end of the document.
    /// - Throws: `ReckonError.badData` with the line for malformed XML or a DTD.
    mutating func read() throws(ReckonError) -> Bool {
        let rc = xmlTextReaderRead(reader)
        if rc == 1 {
            if xmlTextReaderNodeType(reader) == Int32(XML_READER_TYPE_DOCUMENT_TYPE.rawValue) {
                throw ReckonError(.badData,
                                  "document type declarations (DTD) are refused: entity expansion and external entities are not allowed in invoices",
                                  at: SourcePosition(file: file, line: line))
            }
            return true
        }
        if rc == 0 { return false }
        var message = "malformed XML"
        var errLine = line
        if let e = xmlGetLastError() {
            if let m = e.pointee.message {
                message = String(cString: m).trimmingCharacters(in: " \n")
            }
            if e.pointee.line > 0 { errLine = Int(e.pointee.line) }
        }
        throw ReckonError(.badData, message, at: SourcePosition(file: file, line: errLine))
    }

    var kind: XMLNodeKind {
        switch UInt32(xmlTextReaderNodeType(reader)) {
        case XML_READER_TYPE_ELEMENT.rawValue: return .element
        case XML_READER_TYPE_END_ELEMENT.rawValue: return .endElement
        case XML_READER_TYPE_TEXT.rawValue, XML_READER_TYPE_CDATA.rawValue,
             XML_READER_TYPE_SIGNIFICANT_WHITESPACE.rawValue: return .text
        default: return .other
        }
    }

    var isEmptyElement: Bool { xmlTextReaderIsEmptyElement(reader) == 1 }
    var depth: Int { Int(xmlTextReaderDepth(reader)) }
    var line: Int { Int(xmlTextReaderGetParserLineNumber(reader)) }

    var localName: String {
        xmlTextReaderConstLocalName(reader).map { String(cString: $0) } ?? ""
    }

    var namespaceURI: String {
        xmlTextReaderConstNamespaceUri(reader).map { String(cString: $0) } ?? ""
    }

    /// The text of a text node.
    var value: String {
        xmlTextReaderConstValue(reader).map { String(cString: $0) } ?? ""
    }

    /// An attribute of the current element (no namespace).
    func attribute(_ name: String) -> String? {
        guard let p = xmlTextReaderGetAttribute(reader, name) else { return nil }
        defer { reckon_xml_free(p) }
        return String(cString: p)
    }
}

