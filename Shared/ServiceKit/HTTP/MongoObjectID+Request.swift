package import MongoStore

extension MongoObjectID {
    /// An id a client sent (path, query or body): 24 ASCII hex digits in either case.
    /// - Parameter name: how the message names it, e.g. "the user id".
    /// - Throws: 400 `invalid_id` when `text` is missing or malformed.
    package static func fromRequest(_ text: String?, name: String) throws -> MongoObjectID {
        guard let text, let id = MongoObjectID(text) else {
            throw APIError.badRequest("\(name) must be 24 hexadecimal digits", code: "invalid_id")
        }
        return id
    }
}
