internal import CMongoC
import Foundation

extension MongoStoreError {
    /// Maps a libmongoc error (and the server reply, when there is one) to a ``MongoStoreError``: the one place that
    /// knows libmongoc's error domains. Requires error API version 2 (set on the pool), which reports every
    /// server-side error in the `MONGOC_ERROR_SERVER` domain with the server's own code.
    static func mongoc(
        _ error: bson_error_t,
        reply: OpaquePointer? = nil,
        file: String = #fileID,
        line: Int = #line
    ) -> MongoStoreError {
        let message = error.messageText
        let labels = reply.map(Self.errorLabels) ?? []
        let make = { (code: Code, serverCode: Int?) in
            MongoStoreError(code, message, serverCode: serverCode, labels: labels, file: file, line: line)
        }
        switch error.domain {
        case MONGOC_ERROR_SERVER.rawValue, MONGOC_ERROR_WRITE_CONCERN.rawValue, MONGOC_ERROR_COLLECTION.rawValue:
            let serverCode = Int(error.code)
            switch serverCode {
            case 11000, 11001, 12582: return make(.duplicateKey, serverCode)
            case 50, 262: return make(.timeout, serverCode)  // MaxTimeMSExpired, ExceededTimeLimit
            case 112: return make(.writeConflict, serverCode)
            case 6, 7, 89, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436:  // network or primary gone
                return make(.connectionLost, serverCode)
            default: return make(.server, serverCode)
            }
        case MONGOC_ERROR_SERVER_SELECTION.rawValue:
            return make(.unavailable, nil)
        case MONGOC_ERROR_STREAM.rawValue:
            let timedOut =
                message.localizedCaseInsensitiveContains("timeout")
                || message.localizedCaseInsensitiveContains("timed out")
            return make(timedOut ? .timeout : .connectionLost, nil)
        case MONGOC_ERROR_BSON.rawValue:
            return make(.invalidDocument, nil)
        default:
            return make(.server, nil)
        }
    }

    private static func errorLabels(_ reply: OpaquePointer) -> [String] {
        struct Labels: Decodable { var errorLabels: [String]? }
        return (try? BSONBridge.decode(Labels.self, from: reply))?.errorLabels ?? []
    }
}
