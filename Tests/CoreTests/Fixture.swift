/// Paths of hand-made fixture files beside the tests.
enum Fixture {
    static func path(_ name: String, file: String = #filePath) -> String {
        String(file[..<file.lastIndex(of: "/")!]) + "/Fixtures/" + name
    }
}
