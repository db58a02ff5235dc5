import Crypto
import Foundation

/// Hex SHA-256 of `text`: the ids of idempotency keys and the fingerprints of the requests made with them.
func sha256Hex(_ text: String) -> String {
    SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
}
