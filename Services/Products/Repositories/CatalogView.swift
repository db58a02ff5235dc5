import Hummingbird
import NIOCore
import Synchronization

/// The product service's in-memory answers of `GET /get/{id}`: product id → the product's JSON and the inventory
/// record's JSON, each with its version, and the response bytes ready to send. Fed by `product-events` and
/// `stock-levels` (``CatalogFeed``), by fills from the store and the inventory service on a miss (``Catalog``), and by
/// this instance's own writes.
///
/// Rules:
/// - **Newest wins.** Each half (product, stock) keeps the state with the higher version, whatever arrives first: an
///   event, a fill, an own write. A fill that found nothing (no product, no stock record) has no version; it wins
///   only over what was set before the fill began (the store was read after that), never over an event that arrived
///   during the fill.
/// - **Events only update entries that exist** (read at least once, or being filled), so the view holds what is read.
/// - **Bounded staleness.** A half not confirmed (set by a fill, or set or repeated by an event or own write) for
///   ``maxStaleness`` is not served: the next read refills the entry. So even with the event feed cut off, nobody is
///   answered data older than that.
/// - **Bounded size.** Beyond ``capacity`` entries, the tenth least recently read are evicted.
///
/// Thread-safe: everything is in one `Mutex`; a hit costs one dictionary lookup, one clock read and no allocation
/// (the answer's bytes are built when an entry changes, not when it is read).
final class CatalogView: Sendable {
    /// What the view answers for a product id.
    enum Answer: Sendable {
        /// 200 with this body.
        case found(ByteBuffer)
        /// 404: no such product.
        case notFound
    }

    /// A new state of one half of an entry.
    struct Update: Sendable {
        /// The JSON as it appears in the answer (`product`, or `inventory`); `nil`: the product does not exist, or
        /// the stock record does not exist (`"inventory": null`).
        var json: [UInt8]?
        /// `nil` when unknown (a fill that found nothing).
        var version: Int64?
    }

    /// Where a fill began: the view's sequence number (to order it against what is set meanwhile) and the time (its
    /// result is at least as fresh as that).
    struct FillStart: Sendable {
        fileprivate var sequence: UInt64
        fileprivate var instant: ContinuousClock.Instant
    }

    private struct Half {
        var json: [UInt8]?
        var version: Int64?
        var setAt: UInt64
        var confirmedAt: ContinuousClock.Instant
    }

    private struct Entry {
        var product: Half?
        var stock: Half?
        /// The 200 answer, when the product exists and both halves are known.
        var body: ByteBuffer?
        var lastRead: UInt64 = 0
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var sequence: UInt64 = 0
    }

    let maxStaleness: Duration
    let capacity: Int
    private let state = Mutex(State())

    init(maxStaleness: Duration, capacity: Int) {
        self.maxStaleness = maxStaleness
        self.capacity = max(1, capacity)
    }

    /// How many entries the view holds.
    var count: Int { self.state.withLock { $0.entries.count } }

    /// The answer for `id` if the view has a fresh one; `nil` when it must be filled first.
    func read(_ id: String, now: ContinuousClock.Instant = .now) -> Answer? {
        self.state.withLock { state -> Answer? in
            guard let entry = state.entries[id], let product = entry.product,
                now - product.confirmedAt < self.maxStaleness
            else { return nil }
            let answer: Answer
            if product.json == nil {
                answer = .notFound
            } else if let stock = entry.stock, now - stock.confirmedAt < self.maxStaleness, let body = entry.body {
                answer = .found(body)
            } else {
                return nil
            }
            state.sequence &+= 1
            state.entries[id]?.lastRead = state.sequence
            return answer
        }
    }

    /// Starts a fill of `id`: from now on, events for it are kept (the entry exists), and the fill's result is
    /// ordered against them by ``finishFill(_:from:product:stock:)``.
    func startFill(_ id: String) -> FillStart {
        self.state.withLock { state in
            state.sequence &+= 1
            if state.entries[id] == nil {
                state.entries[id] = Entry(lastRead: state.sequence)
                if state.entries.count > self.capacity { Self.evict(&state, keeping: self.capacity * 9 / 10) }
            }
            return FillStart(sequence: state.sequence, instant: .now)
        }
    }

    /// Merges a fill's result and returns the answer it leads to. A product the fill did not find leaves no entry
    /// behind (unless an event created it meanwhile), so unknown ids do not fill the view.
    func finishFill(_ id: String, from start: FillStart, product: Update, stock: Update) -> Answer {
        self.state.withLock { state in
            state.sequence &+= 1
            var entry = state.entries[id] ?? Entry(lastRead: state.sequence)
            let sequence = state.sequence
            Self.merge(&entry.product, product, at: sequence, confirmedAt: start.instant, fillStart: start.sequence)
            Self.merge(&entry.stock, stock, at: sequence, confirmedAt: start.instant, fillStart: start.sequence)
            Self.rebuild(&entry)
            guard entry.product?.json != nil else {
                // Keep a deletion an event told us about (it guards against older events); forget mere misses.
                if entry.product?.version == nil { state.entries[id] = nil } else { state.entries[id] = entry }
                return .notFound
            }
            state.entries[id] = entry
            // Both halves were just merged, so the body exists.
            return entry.body.map(Answer.found) ?? .notFound
        }
    }

    /// A product event or own write for `id` (`json` `nil`: deleted). Ignored when the view has no such entry.
    func applyProduct(_ id: String, _ update: Update) {
        self.apply(id, update, to: \.product)
    }

    /// A stock event for `id` (`json` `nil`: the record was deleted). Ignored when the view has no such entry.
    func applyStock(_ id: String, _ update: Update) {
        self.apply(id, update, to: \.stock)
    }

    private func apply(_ id: String, _ update: Update, to half: WritableKeyPath<Entry, Half?>) {
        let now = ContinuousClock.now
        self.state.withLock { state in
            guard var entry = state.entries[id] else { return }
            state.sequence &+= 1
            Self.merge(&entry[keyPath: half], update, at: state.sequence, confirmedAt: now, fillStart: nil)
            Self.rebuild(&entry)
            state.entries[id] = entry
        }
    }

    /// Replaces `half` with `update` when it is at least as new (see the type's rules).
    private static func merge(
        _ half: inout Half?,
        _ update: Update,
        at sequence: UInt64,
        confirmedAt: ContinuousClock.Instant,
        fillStart: UInt64?
    ) {
        if let old = half {
            let replaces: Bool
            if let version = update.version, let oldVersion = old.version {
                replaces = version >= oldVersion
            } else if let fillStart {
                replaces = old.setAt < fillStart
            } else {
                replaces = true  // an event over a fill that found nothing
            }
            guard replaces else { return }
        }
        half = Half(json: update.json, version: update.version, setAt: sequence, confirmedAt: confirmedAt)
    }

    /// `{"product":…,"inventory":…}`: the detail answer's document (no whitespace; each half encoded by the route's
    /// encoder), built once per change.
    private static func rebuild(_ entry: inout Entry) {
        guard let product = entry.product?.json, let stock = entry.stock else {
            entry.body = nil
            return
        }
        let inventory = stock.json ?? Array("null".utf8)
        var body = ByteBuffer()
        body.reserveCapacity(product.count + inventory.count + 27)
        body.writeString(#"{"product":"#)
        body.writeBytes(product)
        body.writeString(#","inventory":"#)
        body.writeBytes(inventory)
        body.writeString("}")
        entry.body = body
    }

    /// Drops the least recently read entries until `keeping` remain.
    private static func evict(_ state: inout State, keeping: Int) {
        let excess = state.entries.count - keeping
        guard excess > 0 else { return }
        let oldest = state.entries.sorted { $0.value.lastRead < $1.value.lastRead }.prefix(excess)
        for (id, _) in oldest { state.entries[id] = nil }
    }
}
