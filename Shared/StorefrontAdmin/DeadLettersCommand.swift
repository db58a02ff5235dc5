import ArgumentParser
import Foundation
import KafkaBus
import StorefrontAdminKit

struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "List, show and re-drive dead letters (messages consumers gave up on, kept in TOPIC.dlq).",
        discussion: """
            Recipe: a consumer dead-lettered events because of a fault (a bug, bad data, a peer that refused)
              1. storefront-admin dlq list                      what failed, where, why
              2. storefront-admin dlq show payment-events 3      one letter in full
              3. fix the fault (deploy, repair the data)
              4. storefront-admin dlq redrive payment-events --all
            A re-driven letter goes back to its original topic with its original key, value and headers (request id, \
            event-version) and is marked re-driven in the .dlq topic: re-driving it again, from any run, publishes \
            nothing.
            """,
        subcommands: [ListCommand.self, ShowCommand.self, RedriveCommand.self]
    )

    struct ListCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List dead letters: id, state (pending, claimed, re-driven), origin, group, attempts, error.",
            discussion: """
                Examples:
                  storefront-admin dlq list
                  storefront-admin dlq list payment-events --pending
                """
        )

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: "An event topic (or its .dlq topic); default: all.")
        var topic: String?

        @Flag(help: "Only letters not re-driven yet.")
        var pending = false

        @Flag(help: "One JSON object per letter and line.")
        var json = false

        func run() async throws {
            let letters = try await self.connection.withAdmin { try await $0.deadLetters(self.topic) }
            for letter in letters where !self.pending || letter.state == .pending {
                if self.json {
                    Output.json(LetterJSON(letter))
                } else {
                    Output.line(letter.summary)
                }
            }
        }
    }

    struct ShowCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show dead letters in full: headers and the event decoded through the contracts.",
            discussion: """
                Examples:
                  storefront-admin dlq show payment-events 3
                  storefront-admin dlq show payment-events --json
                """
        )

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: "An event topic (or its .dlq topic).")
        var topic: String

        @Argument(help: "Letter ids (their offsets in the .dlq topic, as `dlq list` shows); default: all.")
        var id: [Int64] = []

        @Flag(help: "One JSON object per letter and line.")
        var json = false

        func run() async throws {
            let letters = try await self.connection.withAdmin { try await $0.deadLetters(self.topic) }
            let shown = self.id.isEmpty ? letters : letters.filter { self.id.contains($0.id) }
            if shown.isEmpty, !self.id.isEmpty {
                Output.error("no dead letter \(self.id.map(String.init).joined(separator: ", ")) in \(self.topic)")
                throw ExitCode.failure
            }
            for letter in shown {
                if self.json {
                    Output.json(LetterJSON(letter))
                    continue
                }
                Output.line(letter.summary)
                for (name, value) in letter.message.headers.sorted(by: { $0.key < $1.key }) {
                    Output.line("   \(name): \(value)")
                }
                var original = letter.message
                original.topic = letter.originalTopic
                Output.line("   event: \(EventLine(original).humanLine)")
            }
        }
    }

    struct RedriveCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "redrive",
            abstract: "Re-publish dead letters to their original topic with their original key, once.",
            discussion: """
                Fix the fault first: a letter that fails again is dead-lettered again (as a new letter).

                Examples:
                  storefront-admin dlq redrive payment-events --id 3 --id 4
                  storefront-admin dlq redrive payment-events --all
                """
        )

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: "An event topic (or its .dlq topic).")
        var topic: String

        @Option(help: "A letter id to re-drive (repeatable).")
        var id: [Int64] = []

        @Flag(help: "Re-drive every pending letter of TOPIC.")
        var all = false

        func validate() throws {
            guard self.all != !self.id.isEmpty else {
                throw ValidationError("give --id ID (repeatable) or --all")
            }
        }

        func run() async throws {
            let configuration = try self.connection.kafkaConfiguration()
            let logger = self.connection.logger
            let outcomes = try await self.connection.withAdmin { admin in
                try await KafkaBusProducer.withRunning(configuration: configuration, logger: logger) { producer in
                    try await admin.redrive(self.topic, ids: self.all ? nil : self.id, producer: producer)
                }
            }
            if outcomes.isEmpty {
                Output.line("nothing to re-drive in \(EventAdmin.deadLetterTopic(self.topic))")
            }
            for outcome in outcomes {
                switch outcome.result {
                case .published(let position): Output.line("\(outcome.id)  re-driven to \(position)")
                case .skipped(let state): Output.line("\(outcome.id)  skipped: already \(state.rawValue)")
                case .notFound: Output.line("\(outcome.id)  not found")
                }
            }
        }
    }

    /// A letter for `--json`.
    struct LetterJSON: Encodable {
        var topic: String
        var id: Int64
        var state: String
        var originalTopic: String
        var key: String?
        var headers: [String: String]
        var publishedAs: String?
        var event: EventLine

        init(_ letter: EventAdmin.DeadLetter) {
            self.topic = letter.deadLetterTopic
            self.id = letter.id
            self.state = letter.state.rawValue
            self.originalTopic = letter.originalTopic
            self.key = letter.originalKey
            self.headers = letter.message.headers
            self.publishedAs = letter.publishedAs
            var original = letter.message
            original.topic = letter.originalTopic
            self.event = EventLine(original)
        }
    }
}
