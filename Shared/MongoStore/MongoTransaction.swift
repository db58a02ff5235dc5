/// The handle a ``MongoStore/withTransaction(_:)`` body receives: every collection taken from it reads and writes
/// inside the transaction.
///
/// Not `Sendable` and only valid inside the body: the transaction is bound to one libmongoc client and session,
/// which live on one thread-pool job.
package struct MongoTransaction {
    let connection: MongocConnection

    /// A collection whose operations belong to this transaction.
    package func collection<Document: Codable>(
        _ name: String,
        as type: Document.Type = Document.self
    )
        -> MongoSyncCollection<Document>
    {
        MongoSyncCollection(connection: self.connection, name: name)
    }
}
