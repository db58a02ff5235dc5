import Foundation
import Hummingbird
import KafkaBus
import Logging
import NIOCore
import ServiceKit

// dev-broker: librdkafka's mock Kafka cluster on loopback plus an HTTP control API, for local runs and tests.
// Contract (scripts depend on it): prints exactly `KAFKA_BROKERS=<bootstrap>` and
// `DEV_BROKER_CONTROL=http://127.0.0.1:<port>` to stdout, writes the same two lines atomically to --bootstrap-file once
// both are ready, runs until SIGTERM/SIGINT, then destroys the cluster. Logs go to stderr.

/// Writes `text` to stdout and flushes at once (stdout is usually a pipe read by a script while we run).
func writeStandardOutput(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory, then rename(2).
func writeAtomically(_ contents: String, to path: String) throws {
    let temporary = "\(path).tmp-\(ProcessInfo.processInfo.processIdentifier)"
    try Data(contents.utf8).write(to: URL(fileURLWithPath: temporary))
    guard rename(temporary, path) == 0 else {
        let code = errno
        try? FileManager.default.removeItem(atPath: temporary)
        throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "rename failed: errno \(code)"])
    }
}

let options: DevBrokerOptions
do {
    options = try DevBrokerOptions(arguments: Array(CommandLine.arguments.dropFirst()))
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(2)
}

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
    return handler
}
let logger = Logger(label: "dev-broker")

if let path = options.bootstrapFile {
    // A stale file from an earlier run must not be mistaken for this one's.
    try? FileManager.default.removeItem(atPath: path)
}

let cluster = try KafkaMockCluster(brokers: options.brokers, logger: logger)
for topic in options.topics {
    try await cluster.createTopic(topic.name, partitions: topic.partitions)
}
logger.info(
    "mock cluster ready",
    metadata: [
        "bootstrap": "\(cluster.bootstrap)", "brokers": "\(options.brokers)", "topics": "\(options.topics.count)",
        "topic.sets": "\(options.topicSets)",
    ]
)

let router = Router()
ControlAPI(cluster: cluster).addRoutes(to: router)
var app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: options.controlPort), serverName: "dev-broker"),
    onServerRunning: { channel in
        guard let port = channel.localAddress?.port else {
            logger.critical("control API has no local port")
            exit(1)
        }
        let lines = "KAFKA_BROKERS=\(cluster.bootstrap)\nDEV_BROKER_CONTROL=http://127.0.0.1:\(port)\n"
        writeStandardOutput(lines)
        if let path = options.bootstrapFile {
            do {
                try writeAtomically(lines, to: path)
            } catch {
                logger.critical("cannot write the bootstrap file", metadata: ["path": "\(path)", "error": "\(error)"])
                exit(1)
            }
        }
    },
    logger: logger
)
app.addServices(cluster)
try await app.runService()
