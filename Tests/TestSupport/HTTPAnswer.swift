package import AsyncHTTPClient
import Foundation
package import NIOCore
package import NIOHTTP1
package import ServiceKit

/// One HTTP answer as a client sees it, for tests that talk to live services over the network.
package struct HTTPAnswer: Sendable, CustomStringConvertible {
    package var status: Int
    package var headers: HTTPHeaders
    /// The body as JSON, or `nil` when it is not JSON.
    package var json: JSONValue?
    package var text: String

    /// Sends `request` (with `Accept: application/json`) and reads the whole answer.
    package static func fetch(_ request: HTTPClientRequest, timeout: TimeAmount = .seconds(60)) async throws -> Self {
        var request = request
        request.headers.replaceOrAdd(name: "Accept", value: "application/json")
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let text = String(buffer: try await response.body.collect(upTo: 1 << 22))
        return HTTPAnswer(
            status: Int(response.status.code),
            headers: response.headers,
            json: try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)),
            text: text
        )
    }

    /// The error envelope's `code`.
    package var errorCode: String? { self.json?["error"]?["code"]?.stringValue }

    /// A string field of a JSON object answer.
    package func string(_ key: String) -> String? { self.json?[key]?.stringValue }

    /// The elements of a JSON array answer (`[]` otherwise).
    package var array: [JSONValue] {
        if case .array(let elements)? = self.json { return elements }
        return []
    }

    package var description: String { "\(self.status) \(self.text.prefix(300))" }
}
