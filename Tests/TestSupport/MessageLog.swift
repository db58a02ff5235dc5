package import KafkaBus
import Synchronization

/// The messages a test's consumer received, in the order it handled them.
package final class MessageLog: Sendable {
    private let messages = Mutex<[KafkaBusMessage]>([])

    package init() {}

    package func append(_ message: KafkaBusMessage) { self.messages.withLock { $0.append(message) } }
    package var all: [KafkaBusMessage] { self.messages.withLock { $0 } }
}
