import Foundation
package import HTTPTypes
package import HummingbirdTesting
import NIOCore
package import ServiceAuth
package import ServiceKit

/// Polls `condition` every 50 ms until it holds or `timeout` has passed, for effects that arrive asynchronously
/// (an event consumed, a sweeper's work). Returns whether it held; `#expect` the result.
package func eventually(
    _ timeout: Duration = .seconds(45),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// Runs each of `services` (a producer's, consumer's or relay's `run`) in a task group while `body` runs, then
/// cancels them and waits until they returned.
package func withRunning<T: Sendable>(
    _ services: [@Sendable () async throws -> Void],
    _ body: () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for service in services {
            group.addTask { try await service() }
        }
        do {
            let value = try await body()
            group.cancelAll()
            return value
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

/// The body of every error response: `{"error": {"code": "...", "message": "..."}}`.
package struct ErrorEnvelope: Decodable, Sendable {
    package struct Detail: Decodable, Sendable {
        package var code: String
        package var message: String

        package init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }
    package var error: Detail
}

extension TestResponse {
    /// The error envelope of this response, or `nil` when the body is not one.
    package var errorEnvelope: ErrorEnvelope.Detail? {
        try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(Array(buffer: self.body))).error
    }
}

/// Sends again (after 200 ms, at most `attempts` times) while the answer is a 503 with error `code`: what a caller
/// does when a concurrent request for the same thing (an order's charge or reservation) outlasts the server's wait,
/// as it may on a busy machine. Returns the first other answer, or the last 503.
package func retryingWhileBusy(
    _ code: String,
    attempts: Int = 100,
    _ send: () async throws -> TestResponse
) async throws -> TestResponse {
    var response = try await send()
    var sent = 1
    while sent < attempts, response.status == .serviceUnavailable, response.errorEnvelope?.code == code {
        try await Task.sleep(for: .milliseconds(200))
        response = try await send()
        sent += 1
    }
    return response
}

extension ServiceRuntime {
    /// `Authorization: Bearer <token>` for a caller signed by this runtime's authority, plus a JSON content type.
    package func bearerHeaders(userID: String = "u1", role: Role = .customer) async throws -> HTTPFields {
        let token = try await self.authority.accessToken(
            for: Identity(userID: userID, email: "\(userID)@example.com", role: role)
        )
        return [.authorization: "Bearer \(token)", .contentType: "application/json"]
    }
}
