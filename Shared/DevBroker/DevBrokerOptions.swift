import ServiceKit
import StorefrontContracts

/// The `dev-broker` command line:
/// `dev-broker [--brokers N] [--partitions N] [--topic NAME]... [--topic-sets N] [--bootstrap-file PATH]
/// [--control-port PORT]`.
///
/// Other engineers' scripts depend on these flags and defaults; change them only together with those scripts.
struct DevBrokerOptions: Sendable {
    /// `--brokers N`: number of mock brokers, ids `1...N` (default 1).
    var brokers = 1
    /// `--partitions N`: partitions of every created topic; by default each platform topic gets its partition count
    /// from the contracts (`Topics.created`: event and dead-letter topics) and each extra topic 3.
    var partitions: Int?
    /// `--topic NAME` (repeatable): extra topics to create besides ``standardTopics``.
    var extraTopics: [String] = []
    /// `--bootstrap-file PATH`: where to write the `KAFKA_BROKERS=`/`DEV_BROKER_CONTROL=` lines once ready.
    var bootstrapFile: String?
    /// `--control-port PORT`: port of the HTTP control API on 127.0.0.1 (default 0: an ephemeral port).
    var controlPort = 0
    /// `--topic-sets N`: also creates the platform's topics under each of the prefixes `Topics.setPrefix(0)` …
    /// `Topics.setPrefix(N-1)` (default 0), so that a test run can give each test a set of its own without creating
    /// topics while the tests run.
    var topicSets = 0

    /// The platform's topics (`Topics.created`), the extra topics without duplicates, then the topic sets, each with its
    /// partition count.
    var topics: [TopicDescriptor] {
        var topics = Topics.created.map { TopicDescriptor(name: $0.name, partitions: self.partitions ?? $0.partitions) }
        for name in self.extraTopics where !topics.contains(where: { $0.name == name }) {
            topics.append(TopicDescriptor(name: name, partitions: self.partitions ?? 3))
        }
        for index in 0..<self.topicSets {
            topics += Topics.created.map {
                TopicDescriptor(name: Topics.setPrefix(index) + $0.name, partitions: self.partitions ?? $0.partitions)
            }
        }
        return topics
    }

    /// A command-line error, with the usage text.
    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }

    static let usage =
        "usage: dev-broker [--brokers N (default 1)] [--partitions N (default: each topic's own, 3 for extras)] "
        + "[--topic NAME]... [--topic-sets N (default 0)] "
        + "[--bootstrap-file PATH] [--control-port PORT (default 0)]"

    /// Parses `arguments` (without the program name).
    /// - Throws: ``UsageError`` for an unknown flag, a missing value or a value out of range.
    init(arguments: [String]) throws {
        var remaining = arguments[...]
        while let flag = remaining.popFirst() {
            func value() throws -> String {
                guard let value = remaining.popFirst() else {
                    throw UsageError(description: "\(flag) needs a value\n\(Self.usage)")
                }
                return value
            }
            func integer(in range: ClosedRange<Int>) throws -> Int {
                let text = try value()
                guard let number = Int(text), range.contains(number) else {
                    throw UsageError(
                        description: "\(flag) must be an integer in \(range), got '\(text)'\n\(Self.usage)"
                    )
                }
                return number
            }
            switch flag {
            case "--brokers": self.brokers = try integer(in: 1...16)
            case "--partitions": self.partitions = try integer(in: 1...1000)
            case "--topic":
                let topic = try value()
                guard !topic.isEmpty else { throw UsageError(description: "--topic needs a name\n\(Self.usage)") }
                self.extraTopics.append(topic)
            case "--bootstrap-file": self.bootstrapFile = try value()
            case "--control-port": self.controlPort = try integer(in: 0...65535)
            case "--topic-sets": self.topicSets = try integer(in: 0...10_000)
            case "--help", "-h": throw UsageError(description: Self.usage)
            default: throw UsageError(description: "unknown argument '\(flag)'\n\(Self.usage)")
            }
        }
    }
}
