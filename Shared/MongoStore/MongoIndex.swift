/// An index to create with ``MongoCollection/createIndexes(_:)``.
package struct MongoIndex: Sendable {
    /// The indexed fields in order, each `1` (ascending) or `-1` (descending): `["userId": 1, "createdAt": -1]`.
    package var keys: MongoDocument
    /// Whether the index rejects a second document with the same keys (``MongoStoreError/Code/duplicateKey``).
    package var unique: Bool
    /// The index name; by default derived from the keys as MongoDB does (`userId_1_createdAt_-1`).
    package var name: String

    package init(keys: MongoDocument, unique: Bool = false, name: String? = nil) {
        self.keys = keys
        self.unique = unique
        self.name =
            name
            ?? keys.fields.map { field in
                switch field.value {
                case .int(let direction): "\(field.key)_\(direction)"
                case .string(let kind): "\(field.key)_\(kind)"
                default: field.key
                }
            }.joined(separator: "_")
    }

    var specification: MongoValue {
        var document: MongoDocument = ["key": .document(self.keys), "name": .string(self.name)]
        if self.unique { document.append("unique", true) }
        return .document(document)
    }
}

/// What an update or replace changed.
package struct MongoUpdateResult: Sendable, Decodable, Equatable {
    /// Documents the filter matched (at most 1 for the `One` forms).
    package var matchedCount: Int
    /// Documents actually changed (an update that sets a value already there matches but does not modify).
    package var modifiedCount: Int
    /// 1 when an upsert inserted a new document.
    package var upsertedCount: Int

    package init(matchedCount: Int, modifiedCount: Int, upsertedCount: Int) {
        self.matchedCount = matchedCount
        self.modifiedCount = modifiedCount
        self.upsertedCount = upsertedCount
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.matchedCount = try container.decodeIfPresent(Int.self, forKey: .matchedCount) ?? 0
        self.modifiedCount = try container.decodeIfPresent(Int.self, forKey: .modifiedCount) ?? 0
        self.upsertedCount = try container.decodeIfPresent(Int.self, forKey: .upsertedCount) ?? 0
    }

    private enum CodingKeys: String, CodingKey { case matchedCount, modifiedCount, upsertedCount }
}

/// Which version of the document `findOneAndUpdate` returns.
package enum MongoReturnDocument: Sendable {
    case before
    case after
}
