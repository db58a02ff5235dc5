import NIOCore
import NIOPosix
import NIOSSL

/// One client connection to an SMTP server, on SwiftNIO: send a command line, await its reply; upgrade to TLS in
/// place (STARTTLS). Nothing blocks: the socket lives on `MultiThreadedEventLoopGroup.singleton`, and every wait is
/// a future bounded by the connection's timeout (after which the connection is closed).
///
/// Commands are not pipelined: at most one reply is awaited at a time. A reply that arrives while none is awaited is
/// kept for the next wait. Every failure is an ``SMTPError`` that names the command it happened in.
struct SMTPConnection: Sendable {
    let channel: any Channel
    /// Confined to the channel's event loop.
    private let handler: NIOLoopBound<ReplyHandler>
    /// The most a reply (and the connection itself) may take.
    let timeout: TimeAmount

    private init(channel: any Channel, handler: NIOLoopBound<ReplyHandler>, timeout: TimeAmount) {
        self.channel = channel
        self.handler = handler
        self.timeout = timeout
    }

    /// Connects to `host`:`port`, in TLS from the first byte when `implicitTLS` is given.
    /// - Parameter implicitTLS: the TLS context and the name to verify the certificate for (and send as SNI;
    ///   `nil` for an IP address, whose certificate is then verified for that address).
    /// - Throws: ``SMTPError`` `.connectionFailed` or `.timedOut` (command `connect`). A TLS failure of an implicit-TLS
    ///   connection shows up when the greeting is read.
    static func open(
        host: String,
        port: Int,
        implicitTLS: (context: NIOSSLContext, serverHostname: String?)?,
        timeout: TimeAmount
    ) async throws -> SMTPConnection {
        do {
            return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(timeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let implicitTLS {
                            try channel.pipeline.syncOperations.addHandler(
                                try NIOSSLClientHandler(
                                    context: implicitTLS.context,
                                    serverHostname: implicitTLS.serverHostname
                                )
                            )
                        }
                        let handler = ReplyHandler(eventLoop: channel.eventLoop)
                        try channel.pipeline.syncOperations.addHandler(handler)
                        return SMTPConnection(
                            channel: channel,
                            handler: NIOLoopBound(handler, eventLoop: channel.eventLoop),
                            timeout: timeout
                        )
                    }
                }
        } catch {
            throw Self.smtpError(error, command: "connect", timeout: timeout)
        }
    }

    /// Awaits the next reply (the greeting, or the rest of an exchange).
    func readReply(for command: String) async throws -> SMTPReply {
        try await self.exchange(command: command, writing: nil)
    }

    /// Sends one command line (CRLF is added) and awaits its reply.
    /// - Parameter command: how the command is named in errors (never the line itself, which may hold credentials).
    func send(_ line: String, as command: String) async throws -> SMTPReply {
        var buffer = self.channel.allocator.buffer(capacity: line.utf8.count + 2)
        buffer.writeString(line)
        buffer.writeStaticString("\r\n")
        return try await self.exchange(command: command, writing: buffer)
    }

    /// Sends raw bytes (the message content after DATA, with its terminating `.` line) and awaits the reply.
    func send(bytes: [UInt8], as command: String) async throws -> SMTPReply {
        try await self.exchange(command: command, writing: self.channel.allocator.buffer(bytes: bytes))
    }

    /// Puts TLS under the session right after the server's `220` to STARTTLS. Returns at once; the handshake (and
    /// the verification of the certificate and the host name) runs before the next command's bytes leave, and its
    /// failure fails that command with `.tlsFailed`.
    /// - Throws: `.protocolViolation` when the server sent anything after its `220` (bytes that would otherwise
    ///   pass for part of the encrypted session: the STARTTLS injection attack), `.tlsFailed` when the TLS handler
    ///   cannot be set up.
    func startTLS(context: NIOSSLContext, serverHostname: String?) async throws {
        let handler = self.handler
        do {
            try await self.channel.eventLoop.submit {
                try handler.value.startTLS(context: context, serverHostname: serverHostname)
            }.get()
        } catch {
            throw Self.smtpError(error, command: "STARTTLS", timeout: self.timeout)
        }
    }

    /// Closes the connection now, from any thread (cancellation, failure).
    func abort() {
        self.channel.close(promise: nil)
    }

    /// Closes the connection and waits until it is closed.
    func close() async {
        try? await self.channel.close()
    }

    private func exchange(command: String, writing buffer: ByteBuffer?) async throws -> SMTPReply {
        let handler = self.handler
        let channel = self.channel
        let timeout = self.timeout
        do {
            return try await channel.eventLoop.flatSubmit {
                let reply = handler.value.nextReply(timeout: timeout)
                if let buffer {
                    channel.writeAndFlush(buffer).assumeIsolated().whenFailure { error in
                        handler.value.fail(error)
                    }
                }
                return reply
            }.get()
        } catch {
            throw Self.smtpError(error, command: command, timeout: timeout)
        }
    }

    /// The ``SMTPError`` for a failure of `command`.
    private static func smtpError(_ error: any Error, command: String, timeout: TimeAmount) -> SMTPError {
        switch error {
        case let error as SMTPError:
            return error
        case let failure as ReplyHandler.Failure:
            switch failure {
            case .timedOut:
                return SMTPError(
                    .timedOut,
                    command: command,
                    reason: "no reply within \(timeout.nanoseconds / 1_000_000) ms"
                )
            case .closed:
                return SMTPError(.connectionFailed, command: command, reason: "the server closed the connection")
            case .malformed(let reason):
                return SMTPError(.protocolViolation, command: command, reason: reason)
            case .unexpectedData:
                return SMTPError(
                    .protocolViolation,
                    command: command,
                    reason: "the server sent data after its reply to STARTTLS, before the TLS handshake"
                )
            }
        case ChannelError.connectTimeout:
            return SMTPError(
                .timedOut,
                command: command,
                reason: "no connection within \(timeout.nanoseconds / 1_000_000) ms"
            )
        case is NIOSSLError, is NIOSSLExtraError, is BoringSSLError:
            return SMTPError(.tlsFailed, command: command, reason: "\(error)")
        default:
            return SMTPError(.connectionFailed, command: command, reason: "\(error)")
        }
    }
}

extension SMTPConnection {
    /// The inbound end of the pipeline: cuts the byte stream into reply lines, assembles replies, and completes the
    /// awaited one. Confined to the channel's event loop (reached only through `NIOLoopBound`).
    final class ReplyHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer

        enum Failure: Error {
            case timedOut
            case closed
            case malformed(String)
            case unexpectedData
        }

        private var buffer = ByteBuffer()
        private var parser = SMTPReplyParser()
        private var replies = CircularBuffer<SMTPReply>()
        private var waiter: (promise: EventLoopPromise<SMTPReply>, timeout: Scheduled<Void>)?
        private var failure: (any Error)?
        private var context: ChannelHandlerContext?
        private let eventLoop: any EventLoop

        init(eventLoop: any EventLoop) {
            self.eventLoop = eventLoop
        }

        func handlerAdded(context: ChannelHandlerContext) {
            self.context = context
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            self.context = nil
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = self.unwrapInboundIn(data)
            guard self.failure == nil else { return }
            self.buffer.writeBuffer(&bytes)
            do {
                while let newline = self.buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                    var line = self.buffer.readBytes(length: newline - self.buffer.readerIndex + 1) ?? []
                    line.removeLast()
                    if line.last == UInt8(ascii: "\r") { line.removeLast() }
                    if let reply = try self.parser.parse(line: line) { self.deliver(reply) }
                }
                guard self.buffer.readableBytes <= SMTPReplyParser.maximumLineLength else {
                    throw SMTPReplyParser.Malformed(
                        description: "a reply line longer than \(SMTPReplyParser.maximumLineLength) bytes"
                    )
                }
                self.buffer.discardReadBytes()
            } catch {
                self.fail(Failure.malformed("\(error)"))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.fail(Failure.closed)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            self.fail(error)
        }

        /// The next reply: one already received, or a future that the next complete reply (or the first failure,
        /// or the timeout) completes.
        func nextReply(timeout: TimeAmount) -> EventLoopFuture<SMTPReply> {
            if let reply = self.replies.popFirst() { return self.eventLoop.makeSucceededFuture(reply) }
            if let failure = self.failure { return self.eventLoop.makeFailedFuture(failure) }
            guard self.context != nil else { return self.eventLoop.makeFailedFuture(Failure.closed) }
            precondition(self.waiter == nil, "SMTP commands are not pipelined: one reply is awaited at a time")
            let promise = self.eventLoop.makePromise(of: SMTPReply.self)
            let timer = self.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                self.fail(Failure.timedOut)
            }
            self.waiter = (promise, timer)
            return promise.futureResult
        }

        /// Adds TLS in front of this handler, provided nothing was received after the last reply.
        func startTLS(context sslContext: NIOSSLContext, serverHostname: String?) throws {
            if let failure = self.failure { throw failure }
            guard let context = self.context else { throw Failure.closed }
            guard self.buffer.readableBytes == 0, self.replies.isEmpty, self.parser.isIdle else {
                throw Failure.unexpectedData
            }
            let tls = try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
            try context.pipeline.syncOperations.addHandler(tls, position: .first)
        }

        /// Records the first failure, fails the awaited reply with it and closes the connection.
        func fail(_ error: any Error) {
            guard self.failure == nil else { return }
            self.failure = error
            if let waiter = self.waiter {
                self.waiter = nil
                waiter.timeout.cancel()
                waiter.promise.fail(error)
            }
            self.context?.close(promise: nil)
        }

        private func deliver(_ reply: SMTPReply) {
            if let waiter = self.waiter {
                self.waiter = nil
                waiter.timeout.cancel()
                waiter.promise.succeed(reply)
            } else {
                self.replies.append(reply)
            }
        }
    }
}
