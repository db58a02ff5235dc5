import Foundation
package import KafkaBus
package import Logging
import ServiceKit
import StorefrontContracts

/// Dead letters: list, show and re-drive the messages consumers gave up on (`<topic>.dlq`, `KafkaBusDeadLetter`).
///
/// **Re-driven once.** A redrive must publish a letter to its original topic once, however many times and from however
/// many runs (even at the same moment) it is asked to. The dead-letter topic has a single partition, so it is a total
/// order every run sees alike; the redrive writes its bookkeeping there, next to the letters:
///
/// 1. `claim` marker (`KafkaBusDeadLetter.Redrive`: the letter's offset, this run's id), appended for each pending
///    letter to re-drive;
/// 2. the topic is read again up to past our claims: the **first** claim of a letter wins; a run whose claim is not
///    first publishes nothing for it;
/// 3. the winner publishes the letter (original topic, key and value; original headers minus the `dlq-*` ones, so the
///    request id and `event-version` stay) and appends a `done` marker naming where it went.
///
/// `dlq list` derives each letter's state from the markers: pending (no claim), re-driven (`done`), or claimed (a claim
/// without `done`: a redrive is running or died between claiming and confirming; see the letter's original topic).
///
/// Why markers in the DLQ topic rather than a dedicated consumer group's committed offset: an offset can only say "all
/// letters before N are handled", not re-drive one letter out of order (`--id`), and committing it after publishing
/// leaves a window in which two runs both publish. The markers are as durable as the letters, need no other topic or
/// store, and keep the history visible (`events <topic>.dlq` shows them). A crash between publishing and `done` leaves
/// the letter "claimed", never published twice.
extension EventAdmin {
    /// A dead letter and what became of it.
    package struct DeadLetter: Sendable {
        package enum State: String, Sendable, Codable {
            case pending
            /// A redrive claimed it and has not confirmed publishing it (running, or died in between).
            case claimed
            case redriven = "re-driven"
        }

        /// The dead-letter topic (logical name) and the letter's offset there: its id for `show` and `--id`.
        package var deadLetterTopic: String
        package var id: Int64
        package var message: KafkaBusMessage
        package var state: State
        /// Where the redrive published it (`topic/partition/offset`), once re-driven.
        package var publishedAs: String?

        /// The topic it was consumed from.
        package var originalTopic: String {
            self.message.headers[KafkaBusDeadLetter.Header.topic]
                ?? KafkaBusDeadLetter.originalTopic(of: self.deadLetterTopic) ?? self.deadLetterTopic
        }

        /// Its original key.
        package var originalKey: String? { self.message.key ?? self.message.headers[KafkaBusDeadLetter.Header.key] }

        /// The message a redrive publishes: original topic, key and value; headers without the dead-letter ones.
        package var redriveMessage: KafkaBusMessage {
            KafkaBusMessage(
                topic: self.originalTopic,
                key: self.originalKey,
                value: self.message.value,
                headers: self.message.headers.filter { !KafkaBusDeadLetter.Header.all.contains($0.key) }
            )
        }

        /// One line: id, state, original position, group, attempts, time failed, error.
        package var summary: String {
            let headers = self.message.headers
            let origin = [
                self.originalTopic, headers[KafkaBusDeadLetter.Header.partition].map { "[\($0)]" } ?? "",
                headers[KafkaBusDeadLetter.Header.offset].map { "@\($0)" } ?? "",
            ].joined()
            let failedAt = headers[KafkaBusDeadLetter.Header.failedAt].flatMap(Int64.init).map {
                StorefrontJSON.format(Date(timeIntervalSince1970: Double($0) / 1000))
            }
            return [
                "\(self.deadLetterTopic)@\(self.id)", self.state.rawValue, "from=\(origin)",
                "key=\(self.originalKey ?? "-")", "group=\(headers[KafkaBusDeadLetter.Header.group] ?? "-")",
                "attempts=\(headers[KafkaBusDeadLetter.Header.attempts] ?? "-")", "failed=\(failedAt ?? "-")",
                "error=\(headers[KafkaBusDeadLetter.Header.error] ?? "-")",
            ].joined(separator: "  ") + (self.publishedAs.map { "  published=\($0)" } ?? "")
        }
    }

    /// What one redrive did with one letter.
    package struct RedriveOutcome: Sendable, Equatable {
        package enum Result: Sendable, Equatable {
            /// Published by this run, to `topic/partition/offset`.
            case published(String)
            /// Already re-driven (or claimed) before, or claimed first by another run: not published again.
            case skipped(DeadLetter.State)
            /// No letter with this id.
            case notFound
        }

        package var id: Int64
        package var result: Result

        package init(id: Int64, result: Result) {
            self.id = id
            self.result = result
        }
    }

    /// The dead-letter topic of `topic`, which may name an event topic or its dead-letter topic.
    package static func deadLetterTopic(_ topic: String) -> String {
        KafkaBusDeadLetter.originalTopic(of: topic) == nil ? KafkaBusDeadLetter.topic(for: topic) : topic
    }

    /// The dead letters of `topic` (an event topic or its `.dlq`), or of every event topic, oldest first.
    package func deadLetters(_ topic: String? = nil) async throws -> [DeadLetter] {
        let topics = topic.map { [Self.deadLetterTopic($0)] } ?? Topics.deadLetters.map(\.name)
        var letters: [DeadLetter] = []
        for deadLetterTopic in topics {
            letters += try await self.readDeadLetters(deadLetterTopic).letters
        }
        return letters
    }

    /// Re-drives the letters `ids` of `topic` (all pending ones when `ids` is `nil`) to their original topics, once
    /// (see the extension's documentation).
    /// - Parameter producer: A running producer configured like this admin (same brokers and topic prefix).
    package func redrive(
        _ topic: String,
        ids: [Int64]?,
        producer: KafkaBusProducer
    ) async throws -> [RedriveOutcome] {
        let deadLetterTopic = Self.deadLetterTopic(topic)
        let before = try await self.readDeadLetters(deadLetterTopic)
        var outcomes: [Int64: RedriveOutcome.Result] = [:]
        var toClaim: [DeadLetter] = []
        for id in ids ?? before.letters.filter({ $0.state == .pending }).map(\.id) {
            guard let letter = before.letters.first(where: { $0.id == id }) else {
                outcomes[id] = .notFound
                continue
            }
            if letter.state == .pending {
                toClaim.append(letter)
            } else {
                outcomes[id] = .skipped(letter.state)
            }
        }
        let run = UUID().uuidString.lowercased()
        for letter in toClaim {
            _ = try await producer.send(self.marker("claim", letter: letter.id, run: run, topic: deadLetterTopic))
        }
        if !toClaim.isEmpty {
            let after = try await self.readDeadLetters(deadLetterTopic)
            for letter in toClaim {
                guard after.firstClaim[letter.id] == run else {
                    outcomes[letter.id] = .skipped(.claimed)
                    continue
                }
                let report = try await producer.send(letter.redriveMessage)
                let published = "\(report.topic)/\(report.partition)/\(report.offset)"
                var done = self.marker("done", letter: letter.id, run: run, topic: deadLetterTopic)
                done.headers[KafkaBusDeadLetter.Redrive.published] = published
                _ = try await producer.send(done)
                outcomes[letter.id] = .published(published)
            }
        }
        return outcomes.sorted { $0.key < $1.key }.map { RedriveOutcome(id: $0.key, result: $0.value) }
    }

    private func marker(_ kind: String, letter: Int64, run: String, topic: String) -> KafkaBusMessage {
        KafkaBusMessage(
            topic: topic,
            key: nil,
            value: [],
            headers: [
                KafkaBusDeadLetter.Redrive.marker: kind,
                KafkaBusDeadLetter.Redrive.offset: String(letter),
                KafkaBusDeadLetter.Redrive.run: run,
            ]
        )
    }

    /// Reads the whole dead-letter topic: its letters with their states, and the run of each letter's first claim.
    private func readDeadLetters(_ topic: String) async throws -> (letters: [DeadLetter], firstClaim: [Int64: String]) {
        let ranges = try await self.partitions(of: topic)
        var letters: [DeadLetter] = []
        var firstClaim: [Int64: String] = [:]
        var done: [Int64: String] = [:]
        try await self.kafka.read(
            topic: topic,
            from: Dictionary(uniqueKeysWithValues: ranges.map { ($0.partition, $0.low) }),
            to: Dictionary(uniqueKeysWithValues: ranges.map { ($0.partition, $0.high) })
        ) { message in
            if let kind = message.headers[KafkaBusDeadLetter.Redrive.marker] {
                if let id = message.headers[KafkaBusDeadLetter.Redrive.offset].flatMap(Int64.init) {
                    let run = message.headers[KafkaBusDeadLetter.Redrive.run] ?? ""
                    if kind == "claim", firstClaim[id] == nil { firstClaim[id] = run }
                    if kind == "done", done[id] == nil {
                        done[id] = message.headers[KafkaBusDeadLetter.Redrive.published] ?? ""
                    }
                }
            } else {
                letters.append(
                    DeadLetter(deadLetterTopic: topic, id: message.offset, message: message, state: .pending)
                )
            }
            return true
        }
        letters.sort { $0.id < $1.id }
        for index in letters.indices {
            let id = letters[index].id
            if let published = done[id] {
                letters[index].state = .redriven
                letters[index].publishedAs = published
            } else if firstClaim[id] != nil {
                letters[index].state = .claimed
            }
        }
        return (letters, firstClaim)
    }
}

extension KafkaBusProducer {
    /// Runs a producer configured by `configuration` for the duration of `body` (its `run()` serves the delivery
    /// reports `send` waits for), then stops it.
    package static func withRunning<T: Sendable>(
        configuration: KafkaBusConfiguration,
        logger: Logger,
        _ body: (KafkaBusProducer) async throws -> T
    ) async throws -> T {
        let producer = try KafkaBusProducer(configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await producer.run() }
            do {
                let result = try await body(producer)
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }
}
