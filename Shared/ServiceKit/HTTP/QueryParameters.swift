import Foundation

/// The query string of a list route, read strictly: each parameter at most once, each value checked, every mistake a
/// 400 `invalid_query` naming the parameter. Unknown parameters are ignored (clients may send more than we read).
///
/// Names and values are decoded the way HTML forms and Go's `url.ParseQuery` (the original's) encode them: `+` is a
/// space, then `%XX` escapes are decoded (`%2B` is a literal `+`). Hummingbird's `queryParameters` keep `+` as is, so
/// a search for `red+shoes` from a form would look for the text "red+shoes".
package struct QueryParameters: Sendable {
    private let parameters: [String: [String]]

    /// The parameters of a request's query string as sent (`request.uri.query`, still percent-encoded).
    package init(query: String?) {
        var parameters: [String: [String]] = [:]
        for pair in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.formDecoded(parts[0])
            parameters[name, default: []].append(parts.count > 1 ? Self.formDecoded(parts[1]) : "")
        }
        self.parameters = parameters
    }

    /// `+` as a space, then percent-decoded; a malformed escape is kept as written (as Hummingbird does).
    private static func formDecoded(_ text: Substring) -> String {
        let spaced = String(text).replacing("+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    /// The 400 `invalid_query` answer, for checks that span parameters.
    package static func invalid(_ message: String) -> APIError {
        APIError.badRequest(message, code: "invalid_query")
    }

    /// The parameter's value; `nil` when absent.
    /// - Throws: 400 `invalid_query` when it is given more than once.
    package func single(_ name: String) throws -> String? {
        let values = self.parameters[name] ?? []
        guard values.count <= 1 else { throw Self.invalid("\(name) may be given only once") }
        return values.first
    }

    /// The parameter as an integer in `range`; `defaultValue` when absent.
    /// - Throws: 400 `invalid_query` when it is not such an integer, or given more than once.
    package func integer(_ name: String, in range: ClosedRange<Int>, default defaultValue: Int) throws -> Int {
        guard let text = try self.single(name) else { return defaultValue }
        guard let value = Int(text), range.contains(value) else {
            throw Self.invalid("\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// The parameter as a finite number of at least 0; `nil` when absent.
    /// - Throws: 400 `invalid_query` when it is anything else, or given more than once.
    package func nonNegativeNumber(_ name: String) throws -> Double? {
        guard let text = try self.single(name) else { return nil }
        guard let value = Double(text), value.isFinite, value >= 0 else {
            throw Self.invalid("\(name) must be a number of at least 0")
        }
        return value
    }

    /// A page of a list: `limit` 1–200 (default 50) and `offset` 0–1,000,000 (default 0), the same on every list
    /// route.
    /// - Throws: 400 `invalid_query` naming the parameter.
    package func page() throws -> (limit: Int, offset: Int) {
        (
            limit: try self.integer("limit", in: 1...200, default: 50),
            offset: try self.integer("offset", in: 0...1_000_000, default: 0)
        )
    }
}
