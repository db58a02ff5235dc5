import MongoStore

/// Notifications in `NotificationService.notifications`. Thread-safe; every call runs on the store's thread pool.
/// Uses only what the dev store does right: insert with its duplicate-key error on `_id`, `findAndModify` with a
/// conditional filter, `$set` of strings and Int64s, `$inc`, `$unset`, `$in`.
struct NotificationRepository: Sendable {
    let collection: MongoCollection<NotificationRecord>

    init(store: MongoStore) {
        self.collection = store.collection("notifications", as: NotificationRecord.self)
    }

    /// Indexes for the listing and the delivery loop's query (`_id` is unique by itself and is not indexed again).
    func prepare() async throws {
        try await self.collection.createIndexes([
            MongoIndex(keys: ["userId": 1, "createdAt": -1]),
            MongoIndex(keys: ["status": 1, "nextAttemptAt": 1]),
        ])
    }

    /// Inserts `record` unless a notification with its `_id` exists. Returns whether it inserted.
    func insertIfAbsent(_ record: NotificationRecord) async throws -> Bool {
        do {
            try await self.collection.insert(record)
            return true
        } catch let error as MongoStoreError where error.code == .duplicateKey {
            return false
        }
    }

    func find(id: String) async throws -> NotificationRecord? {
        try await self.collection.findOne(["_id": .string(id)])
    }

    /// The user's notifications, newest first.
    func list(userID: String, limit: Int = 500) async throws -> [NotificationRecord] {
        try await self.collection.find(["userId": .string(userID)], sort: ["createdAt": -1, "_id": -1], limit: limit)
    }

    /// Claims the notification that has waited longest for an attempt and was due by `dueBy` (PENDING, retriable
    /// FAILED, or SENDING whose claim has lapsed): atomically marks it SENDING until `now + lease` and counts the
    /// attempt. The lease runs from `now`, not from `dueBy`: a pass that started long ago must not hand out a claim
    /// that has already lapsed.
    /// - Returns: the claimed notification (after the update), or `nil` when none is due.
    func claimDue(dueBy: Int64, now: Int64, lease: Int64) async throws -> NotificationRecord? {
        try await self.collection.findOneAndUpdate(
            [
                "status": [
                    .string(NotificationStatus.pending.rawValue), .string(NotificationStatus.failed.rawValue),
                    .string(NotificationStatus.sending.rawValue),
                ].asIn,
                "nextAttemptAt": ["$lte": .int(dueBy)],
            ],
            [
                "$set": ["status": .string(NotificationStatus.sending.rawValue), "nextAttemptAt": .int(now + lease)],
                "$inc": ["attempts": 1],
            ],
            sort: ["nextAttemptAt": 1],
            returning: .after
        )
    }

    /// Extends the claim of an attempt still running to `now + lease`, so that no other delivery loop (another replica)
    /// takes the notification over while it is being sent. Only the attempt that holds the claim can extend it.
    /// - Returns: whether the claim was still held.
    @discardableResult
    func renew(_ claimed: NotificationRecord, now: Int64, lease: Int64) async throws -> Bool {
        let result = try await self.collection.updateOne(
            [
                "_id": .string(claimed.id), "status": .string(NotificationStatus.sending.rawValue),
                "attempts": .int(Int64(claimed.attempts)),
            ],
            ["$set": ["nextAttemptAt": .int(now + lease)]]
        )
        return result.matchedCount > 0
    }

    /// Records a successful attempt. Only the attempt that holds the claim can finish it.
    @discardableResult
    func markSent(_ claimed: NotificationRecord, email: String, channel: String, now: Int64) async throws -> Bool {
        try await self.finish(
            claimed,
            set: [
                "status": .string(NotificationStatus.sent.rawValue), "email": .string(email),
                "channel": .string(channel), "sentAt": .int(now),
            ],
            unset: ["nextAttemptAt", "lastError"]
        )
    }

    /// Records a failed attempt: retried at `retryAt`, or final when it is `nil`.
    @discardableResult
    func markFailed(_ claimed: NotificationRecord, error: String, email: String?, retryAt: Int64?) async throws -> Bool
    {
        var set: MongoDocument = ["status": .string(NotificationStatus.failed.rawValue), "lastError": .string(error)]
        if let email { set.append("email", .string(email)) }
        if let retryAt { set.append("nextAttemptAt", .int(retryAt)) }
        return try await self.finish(claimed, set: set, unset: retryAt == nil ? ["nextAttemptAt"] : [])
    }

    /// Records that there is nobody to send it to (final).
    @discardableResult
    func markSkipped(_ claimed: NotificationRecord, reason: String) async throws -> Bool {
        try await self.finish(
            claimed,
            set: ["status": .string(NotificationStatus.skipped.rawValue), "lastError": .string(reason)],
            unset: ["nextAttemptAt"]
        )
    }

    private func finish(_ claimed: NotificationRecord, set: MongoDocument, unset: [String]) async throws -> Bool {
        var update: MongoDocument = ["$set": .document(set)]
        if !unset.isEmpty {
            var fields: MongoDocument = [:]
            for field in unset { fields.append(field, "") }
            update.append("$unset", .document(fields))
        }
        let result = try await self.collection.updateOne(
            [
                "_id": .string(claimed.id), "status": .string(NotificationStatus.sending.rawValue),
                "attempts": .int(Int64(claimed.attempts)),
            ],
            update
        )
        return result.matchedCount > 0
    }
}

extension Array where Element == MongoValue {
    /// `{"$in": self}`.
    fileprivate var asIn: MongoValue { ["$in": .array(self)] }
}
