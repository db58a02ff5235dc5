import Foundation
package import MongoStore
import Synchronization

/// An event waiting in a service's `outbox` collection to be published by ``OutboxRelay``.
///
/// Written in the same transaction as the change it announces (``Outbox/append(_:to:origin:in:)``), so
/// the event exists if and only if the change was committed; the relay publishes it and deletes it once the broker
/// acknowledged it.
package struct OutboxRecord: Codable, Sendable, Equatable {
    /// The event's id (a UUID string): also the `eventId` in its payload, which consumers deduplicate on.
    package var _id: String
    /// The Kafka topic to publish to.
    package var topic: String
    /// The message key (the entity id, so one entity's events stay in order on one partition).
    package var key: String
    /// The event as JSON text (``StorefrontJSON/encoder()``).
    package var payload: String
    /// When it was written, in epoch milliseconds (Int64: dates cannot be `$set` on the dev store, and we sort on it).
    package var createdAt: Int64
    /// A per-process counter that orders records written within the same millisecond.
    package var sequence: Int64
    /// The request id of the work that wrote it, sent as the `x-request-id` header.
    package var requestId: String?
    /// The event's ``StorefrontEvent/schemaVersion``, sent as the `event-version` header (absent in records written
    /// before it existed).
    package var version: Int?
    /// The trace context of the work that wrote it (`traceparent`, ``TraceContext``), sent as headers so that the
    /// consumers' spans join its trace; absent when tracing is off, and in records written before it existed.
    package var trace: [String: String]?

    package init(
        id: String,
        topic: String,
        key: String,
        payload: String,
        createdAt: Int64,
        sequence: Int64,
        requestId: String?,
        version: Int? = nil,
        trace: [String: String]? = nil
    ) {
        self._id = id
        self.topic = topic
        self.key = key
        self.payload = payload
        self.createdAt = createdAt
        self.sequence = sequence
        self.requestId = requestId
        self.version = version
        self.trace = trace
    }
}

/// The transactional outbox: events are written into the service's own database, in the transaction that makes the
/// change they announce, and published afterwards by ``OutboxRelay``. An event can therefore be neither lost (the
/// process dies after the commit: the record waits in the store) nor published for a change that was rolled back.
/// Delivery is at least once (a crash between publish and delete publishes again): consumers deduplicate on the
/// event id.
///
/// ```swift
/// let origin = EventOrigin.current                  // task-locals are not visible inside the transaction body
/// try await store.withTransaction { transaction in
///     try transaction.collection("users", as: User.self).insert(user)
///     try Outbox.append(event, to: Topics.userCreated, origin: origin, in: transaction)
/// }
/// relay.notify()
/// ```
package enum Outbox {
    /// The collection every service keeps its outbox in.
    package static let collectionName = "outbox"

    private static let counter = Atomic<Int64>(0)

    /// Creates the outbox collection and its index (`createdAt`). Call it at startup, in `beforeServerStarts`, before
    /// any transaction appends to it (dev-store.md gap 7). Idempotent.
    /// - Throws: `MongoStoreError` when the store is unavailable.
    package static func prepare(_ store: MongoStore) async throws {
        try await store.collection(self.collectionName, as: OutboxRecord.self).createIndexes([
            MongoIndex(keys: ["createdAt": 1])
        ])
    }

    /// Writes `event` to the outbox inside `transaction`; it is published to `topic` once the transaction commits,
    /// keyed by its ``StorefrontEvent/key``, with its `eventId` as the record's id.
    ///
    /// Synchronous, for use inside a `MongoStore.withTransaction` body (which runs on the store's thread pool).
    /// Call ``OutboxRelay/notify()`` after the transaction committed, so the event goes out at once rather than at
    /// the next poll.
    /// - Parameters:
    ///   - event: The payload, JSON-encoded with ``StorefrontJSON/encoder()``.
    ///   - topic: Where it is published.
    ///   - origin: The request id and trace context to send with it. Capture ``EventOrigin/current`` **before** the
    ///     transaction: the body runs on a store thread where task-locals are not bound.
    ///   - transaction: The transaction the change is written in.
    /// - Returns: The record written.
    /// - Throws: An encoding error, or `MongoStoreError` (which aborts the transaction when rethrown from the body).
    @discardableResult
    package static func append<Event: StorefrontEvent>(
        _ event: Event,
        to topic: EventTopic<Event>,
        origin: EventOrigin,
        in transaction: MongoTransaction
    ) throws -> OutboxRecord {
        let record = try self.record(event, to: topic, origin: origin)
        try transaction.collection(self.collectionName, as: OutboxRecord.self).insert(record)
        return record
    }

    /// The outbox record of `event`, for a writer that inserts it itself (outside a transaction, where the record's
    /// id makes a repeated insert a duplicate-key error rather than a second event).
    /// - Throws: An encoding error.
    package static func record<Event: StorefrontEvent>(
        _ event: Event,
        to topic: EventTopic<Event>,
        origin: EventOrigin
    ) throws -> OutboxRecord {
        OutboxRecord(
            id: event.eventId ?? UUID().uuidString.lowercased(),
            topic: topic.name,
            key: event.key,
            payload: String(decoding: try StorefrontJSON.encoder().encode(event), as: UTF8.self),
            createdAt: Date().epochMilliseconds,
            sequence: self.counter.add(1, ordering: .relaxed).newValue,
            requestId: origin.requestID,
            version: Event.schemaVersion,
            trace: origin.trace.isEmpty ? nil : origin.trace
        )
    }
}

/// Where an event comes from: the request id and trace context of the work that causes it, captured where the
/// task-locals are bound (before a transaction, whose body runs on a store thread).
package struct EventOrigin: Sendable {
    package var requestID: String?
    package var trace: [String: String]

    package init(requestID: String?, trace: [String: String] = [:]) {
        self.requestID = requestID
        self.trace = trace
    }

    /// The current request's id (``CurrentRequest/id``) and trace context (``TraceContext/headers(of:)``).
    package static var current: EventOrigin {
        EventOrigin(requestID: CurrentRequest.id, trace: TraceContext.headers())
    }
}
