extension String {
    public func trimmingCharacters(in set: String) -> String {
        let chars = Set(set.unicodeScalars)
        var scalars = Substring(self).unicodeScalars[...]
        while let f = scalars.first, chars.contains(f) { scalars.removeFirst() }
        while let l = scalars.last, chars.contains(l) { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }

    /// Trims spaces, tabs and line breaks at both ends.
    public var trimmed: String { trimmingCharacters(in: " \t\r\n") }
}
