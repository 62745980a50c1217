import ReckonCore

/// The FOCUS 1.3 Cost and Usage columns Reckon writes, in order: the FOCUS columns (sorted by
/// name), then Reckon's own `x_` columns. Every mandatory 1.3 column is here, including
/// `ServiceProviderName` and `HostProviderName` and the deprecated-but-required `ProviderName`
/// and `PublisherName`.
///
/// `CommitmentDiscountStatus` is always null: it is present because focus-validator 2.2.1 errors
/// on ConsumedQuantity rules when that column is absent (see `conformance/validator-defects.md`).
public enum FocusColumn: String, CaseIterable, Sendable {
    case billedCost = "BilledCost"
    case billingAccountId = "BillingAccountId"
    case billingAccountName = "BillingAccountName"
    case billingCurrency = "BillingCurrency"
    case billingPeriodEnd = "BillingPeriodEnd"
    case billingPeriodStart = "BillingPeriodStart"
    case chargeCategory = "ChargeCategory"
    case chargeClass = "ChargeClass"
    case chargeDescription = "ChargeDescription"
    case chargeFrequency = "ChargeFrequency"
    case chargePeriodEnd = "ChargePeriodEnd"
    case chargePeriodStart = "ChargePeriodStart"
    case commitmentDiscountStatus = "CommitmentDiscountStatus"
    case consumedQuantity = "ConsumedQuantity"
    case consumedUnit = "ConsumedUnit"
    case contractedCost = "ContractedCost"
    case contractedUnitPrice = "ContractedUnitPrice"
    case effectiveCost = "EffectiveCost"
    case hostProviderName = "HostProviderName"
    case invoiceId = "InvoiceId"
    case invoiceIssuerName = "InvoiceIssuerName"
    case listCost = "ListCost"
    case listUnitPrice = "ListUnitPrice"
    case pricingCategory = "PricingCategory"
    case pricingCurrency = "PricingCurrency"
    case pricingCurrencyContractedUnitPrice = "PricingCurrencyContractedUnitPrice"
    case pricingCurrencyEffectiveCost = "PricingCurrencyEffectiveCost"
    case pricingCurrencyListUnitPrice = "PricingCurrencyListUnitPrice"
    case pricingQuantity = "PricingQuantity"
    case pricingUnit = "PricingUnit"
    case providerName = "ProviderName"
    case publisherName = "PublisherName"
    case serviceCategory = "ServiceCategory"
    case serviceName = "ServiceName"
    case serviceProviderName = "ServiceProviderName"
    case serviceSubcategory = "ServiceSubcategory"
    case skuId = "SkuId"
    case skuMeter = "SkuMeter"
    case skuPriceDetails = "SkuPriceDetails"
    case skuPriceId = "SkuPriceId"
    case subAccountId = "SubAccountId"
    case subAccountName = "SubAccountName"
    case tags = "Tags"
    // Reckon's columns.
    /// What kind of invoice amount a row is when ChargeCategory alone does not say
    /// (`Rounding`, `Prepayment applied`, `Document allowance`, `Document charge`).
    case xChargeSubType = "x_ChargeSubType"
    /// The invoice line (BT-126) a row comes from.
    case xInvoiceLineId = "x_InvoiceLineId"
    /// The model id as the provider reported it (dated id, alias).
    case xModel = "x_Model"
    /// Where the price on the row was read (rate card source).
    case xPriceSource = "x_PriceSource"
    /// Content hash of the rate cards the row was priced with.
    case xRateCardVersion = "x_RateCardVersion"
    /// Provider service tier (`standard`, `batch`, …).
    case xServiceTier = "x_ServiceTier"

    public enum Kind: Sendable { case string, decimal, dateTime, json }

    public var kind: Kind {
        switch self {
        case .billedCost, .consumedQuantity, .contractedCost, .contractedUnitPrice, .effectiveCost, .listCost,
             .listUnitPrice, .pricingCurrencyContractedUnitPrice, .pricingCurrencyEffectiveCost,
             .pricingCurrencyListUnitPrice, .pricingQuantity:
            return .decimal
        case .billingPeriodEnd, .billingPeriodStart, .chargePeriodEnd, .chargePeriodStart:
            return .dateTime
        case .skuPriceDetails, .tags:
            return .json
        default:
            return .string
        }
    }

    /// The column's position in `allCases`. A payload-free enum is stored as its case number, so
    /// this is a load, not a lookup (checked against `allCases` by a test).
    @inline(__always)
    public var index: Int { Int(unsafeBitCast(self, to: UInt8.self)) }
    static let indexByName: [String: Int] = Dictionary(uniqueKeysWithValues: allCases.enumerated().map { ($1.rawValue, $0) })
}

/// One cell of a FOCUS row.
public enum FocusValue: Sendable, Equatable {
    case null
    case string(String)
    case decimal(ExactDecimal)
    case dateTime(Timestamp)
    /// A key-value JSON object (Tags, SkuPriceDetails), members in the order given.
    case json([(key: String, value: JSONValue)])

    public static func == (a: FocusValue, b: FocusValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.string(x), .string(y)): return x == y
        case let (.decimal(x), .decimal(y)): return x == y
        case let (.dateTime(x), .dateTime(y)): return x == y
        case let (.json(x), .json(y)): return JSONValue.object(x) == JSONValue.object(y)
        default: return false
        }
    }

    public var decimal: ExactDecimal? { if case .decimal(let d) = self { return d } else { return nil } }
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
}

/// A FOCUS Cost and Usage row: one value per `FocusColumn`, null unless set.
public struct FocusRow: Sendable, Equatable {
    public private(set) var values: [FocusValue] = Array(repeating: .null, count: FocusColumn.allCases.count)

    public init() {}

    public subscript(column: FocusColumn) -> FocusValue {
        get { values[column.index] }
        set { values[column.index] = newValue }
    }

    /// Sets a string column (`nil` → null).
    public mutating func set(_ column: FocusColumn, _ s: String?) { self[column] = s.map(FocusValue.string) ?? .null }
    public mutating func set(_ column: FocusColumn, _ d: ExactDecimal?) { self[column] = d.map(FocusValue.decimal) ?? .null }
    public mutating func set(_ column: FocusColumn, _ t: Timestamp) { self[column] = .dateTime(t) }

    /// The row as one JSON object: decimals as JSON numbers written exactly (FOCUS NumericFormat,
    /// never an exponent), date/times as strings, Tags and SkuPriceDetails as nested objects,
    /// nulls as `null`. Every column is present.
    public var json: JSONValue {
        .object(FocusColumn.allCases.map { c in
            let v: JSONValue
            switch self[c] {
            case .null: v = .null
            case .string(let s): v = .string(s)
            case .decimal(let d): v = .decimal(d)
            case .dateTime(let t): v = .string(t.description)
            case .json(let members): v = .object(members)
            }
            return (c.rawValue, v)
        })
    }

    /// Appends the row as one JSONL line (the same text as `JSONWriter.write(json)` plus a newline),
    /// straight into bytes.
    public func appendJSONLine(to out: inout [UInt8]) {
        out.append(0x7B)
        for (k, c) in FocusColumn.allCases.enumerated() {
            if k > 0 { out.append(0x2C) }
            out.append(contentsOf: FocusRow.encodedNames[k])
            switch values[k] {
            case .null: out.append(ascii: "null")
            case .string(let s): out.appendJSONString(s)
            case .decimal(let d): out.appendDecimal(d)
            case .dateTime(let t): out.append(0x22); out.appendTimestamp(t); out.append(0x22)
            case .json: appendJSONValue(c, to: &out)
            }
            _ = c
        }
        out.append(ascii: "}\n")
    }

    /// Appends the row as one CSV line: the same bytes as `CSVWriter.line(csvFields)`, without
    /// making a String per field.
    public func appendCSVLine(to out: inout [UInt8]) {
        var scratch: [UInt8] = []
        for k in values.indices {
            if k > 0 { out.append(0x2C) }
            switch values[k] {
            case .null: break
            case .string(let s): out.appendCSVField(s)
            case .decimal(let d): out.appendDecimal(d)
            case .dateTime(let t): out.appendTimestamp(t)
            case .json(let members):
                scratch.removeAll(keepingCapacity: true)
                scratch.append(utf8: JSONWriter.write(.object(members)))
                scratch.withUnsafeBytes { out.appendCSVField($0) }
            }
        }
        out.append(0x0A)
    }

    /// Reads a row back from the fields of a CSV record whose columns are `columns` (indexes into
    /// `FocusColumn.allCases`, -1 for a column Reckon does not know, which is refused): an empty
    /// unquoted field is null; decimals, date/times and JSON objects are parsed by the column's type.
    /// - Parameter wanted: when given, only the columns whose index is true are decoded (the others
    ///   stay null): a reader that needs a dozen columns does not pay for 49.
    public init(csv r: CSVRecord, columns: [Int], wanted: [Bool]? = nil, jsonCache: FocusJSONCache? = nil) throws(FocusDecodeError) {
        for (f, i) in columns.enumerated() {
            if let wanted, !wanted[i] { continue }
            let field = r.field(f)
            if field.isEmpty && !r.quoted(f) { continue }
            let column = FocusColumn.allCases[i]
            switch column.kind {
            case .decimal:
                guard let d = ExactDecimal(utf8: field) else { throw FocusDecodeError(column: column.rawValue, message: "not a decimal") }
                values[i] = .decimal(d)
            case .dateTime:
                guard let t = Timestamp(rfc3339: field) else { throw FocusDecodeError(column: column.rawValue, message: "not a date/time") }
                values[i] = .dateTime(t)
            case .json:
                if let m = jsonCache?.value(field) { values[i] = .json(m); continue }
                guard case .object(let m)? = try? JSONParser.parse(field) else {
                    throw FocusDecodeError(column: column.rawValue, message: "not a JSON object")
                }
                jsonCache?.keep(field, m)
                values[i] = .json(m)
            case .string:
                values[i] = .string(String(decoding: field, as: UTF8.self))
            }
        }
    }

    /// Appends the JSON text of a JSON-object column (Tags, SkuPriceDetails) as the JSONL line has it.
    func appendJSONValue(_ c: FocusColumn, to out: inout [UInt8]) {
        guard case .json(let members) = self[c] else { out.append(ascii: "null"); return }
        out.append(0x7B)
        for (m, member) in members.enumerated() {
            if m > 0 { out.append(0x2C) }
            out.appendJSONString(member.key)
            out.append(0x3A)
            if case .string(let v) = member.value { out.appendJSONString(v) } else { out.append(utf8: JSONWriter.write(member.value)) }
        }
        out.append(0x7D)
    }

    /// `"Column":` for each column, encoded once.
    static let encodedNames: [[UInt8]] = FocusColumn.allCases.map { Array("\"\($0.rawValue)\":".utf8) }

    /// The row's CSV fields: null → empty unquoted field; JSON columns as their JSON text.
    public var csvFields: [String?] {
        FocusColumn.allCases.map { c in
            switch self[c] {
            case .null: return nil
            case .string(let s): return s
            case .decimal(let d): return d.description
            case .dateTime(let t): return t.description
            case .json(let members): return JSONWriter.write(.object(members))
            }
        }
    }

    /// Reads a row back from its JSON object (a line of a FOCUS JSONL file written by Reckon).
    /// - Throws: a message naming the column that does not fit its type.
    public init(json: JSONValue) throws(FocusDecodeError) {
        guard case .object(let members) = json else { throw FocusDecodeError(column: nil, message: "not a JSON object") }
        for (key, value) in members {
            guard let i = FocusColumn.indexByName[key] else {
                throw FocusDecodeError(column: key, message: "unknown column")
            }
            let column = FocusColumn.allCases[i]
            if value.isNull { continue }
            switch column.kind {
            case .decimal:
                guard let d = value.decimal else { throw FocusDecodeError(column: key, message: "not a decimal") }
                values[i] = .decimal(d)
            case .dateTime:
                guard let s = value.string, let t = Timestamp(rfc3339: s) else { throw FocusDecodeError(column: key, message: "not a date/time") }
                values[i] = .dateTime(t)
            case .json:
                guard case .object(let m) = value else { throw FocusDecodeError(column: key, message: "not a JSON object") }
                values[i] = .json(m)
            case .string:
                guard let s = value.string else { throw FocusDecodeError(column: key, message: "not a string") }
                values[i] = .string(s)
            }
        }
    }
}

public struct FocusDecodeError: Error, Sendable, CustomStringConvertible {
    public var column: String?
    public var message: String
    public var description: String { column.map { "column \($0): \(message)" } ?? message }
}

/// What was made from a cell's text (parsed members, encoded JSON), by that exact text, for a
/// reader of many rows: a month's rows repeat a few hundred tag sets, and parsing each Tags cell
/// again was a sixth of reconcile and most of load's transcoding.
/// - Memory: at most `limit` entries (then it starts over), each the text and its value.
public final class CellTextCache<Value> {
    private var table: ExactTextTable<Value>

    public init(limit: Int = 4096) { table = ExactTextTable(limit: limit, byteLimit: 64 << 20) }

    /// The value kept for exactly these bytes.
    func value(_ field: UnsafeRawBufferPointer) -> Value? { table.value(field) }

    func keep(_ field: UnsafeRawBufferPointer, _ value: Value) { table.keep(field, value) }
}

/// Parsed JSON-object cells (Tags, SkuPriceDetails) by their text.
public typealias FocusJSONCache = CellTextCache<[(key: String, value: JSONValue)]>
