import Crypto
import Foundation
import Logging
import SwiftASN1
import TestSupport
import Testing
import X509

@testable import NotificationService

// X509, Crypto and SwiftASN1 come into this test target through jwt-kit (UserService → ServiceAuth → JWTKit); they
// are used only here, to make a private CA and server certificates for the TLS tests without the openssl CLI.

/// A private CA made for one test, and server certificates it issues, as PEM files in a temporary folder.
struct TestPKI {
    let directory: URL
    /// The CA certificate (for `SMTP_CA_FILE`).
    let caFile: String
    private let caKey: P256.Signing.PrivateKey
    private let caName: DistinguishedName

    init() throws {
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            TestEnvironment.uniqueName("smtp-pki")
        )
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        self.caKey = P256.Signing.PrivateKey()
        self.caName = try DistinguishedName { CommonName("Storefront test CA") }
        let key = Certificate.PrivateKey(self.caKey)
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: Date().addingTimeInterval(-3600),
            notValidAfter: Date().addingTimeInterval(86_400),
            issuer: self.caName,
            subject: self.caName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: key
        )
        self.caFile = self.directory.appendingPathComponent("ca.pem").path
        try certificate.serializeAsPEM().pemString.write(toFile: self.caFile, atomically: true, encoding: .utf8)
    }

    /// A server certificate and key issued by this CA for `names` (DNS names), as PEM files.
    func serverCertificate(for names: [String]) throws -> DevSMTPServer.TLSFiles {
        let serverKey = P256.Signing.PrivateKey()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PrivateKey(serverKey).publicKey,
            notValidBefore: Date().addingTimeInterval(-3600),
            notValidAfter: Date().addingTimeInterval(86_400),
            issuer: self.caName,
            subject: try DistinguishedName { CommonName(names.first ?? "server") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names.map { .dnsName($0) })
            },
            issuerPrivateKey: Certificate.PrivateKey(self.caKey)
        )
        let base = self.directory.appendingPathComponent(TestEnvironment.uniqueName("server")).path
        try certificate.serializeAsPEM().pemString.write(toFile: base + ".crt", atomically: true, encoding: .utf8)
        try serverKey.pemRepresentation.write(toFile: base + ".key", atomically: true, encoding: .utf8)
        return (base + ".crt", base + ".key")
    }

    func remove() {
        try? FileManager.default.removeItem(at: self.directory)
    }
}

/// The project's real local SMTP server (`scripts/dev-smtp.py`, aiosmtpd) on a free loopback port, for one test.
final class DevSMTPServer: Sendable {
    /// A certificate and its key, as PEM files.
    typealias TLSFiles = (certificate: String, key: String)

    enum Security {
        case none
        /// STARTTLS offered; with `required`, no mail before it.
        case startTLS(TLSFiles, required: Bool = false)
        /// TLS from the first byte.
        case implicitTLS(TLSFiles)
    }

    struct Auth {
        var username: String
        var password: String
        /// Offer AUTH before TLS too (a tempting server: the client must still refuse to send credentials in clear).
        var allowPlaintext = false
        /// Mechanisms not offered (e.g. `PLAIN`, to make the client use LOGIN).
        var exclude: [String] = []
    }

    /// A message the server accepted: its sidecar and raw content.
    struct ReceivedMail: Decodable {
        var mail_from: String
        var rcpt_tos: [String]
        var tls: Bool
        var tls_version: String?
        var login: String?
        var raw: [UInt8] = []

        enum CodingKeys: String, CodingKey {
            case mail_from, rcpt_tos, tls, tls_version, login
        }
    }

    struct AuthAttempt: Decodable {
        var mechanism: String
        var login: String?
        var success: Bool
    }

    let port: Int
    let directory: URL
    private let process: ChildProcess

    private init(port: Int, directory: URL, process: ChildProcess) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    /// Starts a server and waits until it listens.
    static func start(
        _ security: Security = .none,
        auth: Auth? = nil,
        rejecting rejected: [String] = []
    ) async throws -> DevSMTPServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            TestEnvironment.uniqueName("dev-smtp")
        )
        let mail = directory.appendingPathComponent("mail")
        try FileManager.default.createDirectory(at: mail, withIntermediateDirectories: true)
        let portFile = directory.appendingPathComponent("port").path
        var arguments = ["--out-dir", mail.path, "--port-file", portFile]
        switch security {
        case .none:
            break
        case .startTLS(let files, let required):
            arguments += ["--tls-cert", files.certificate, "--tls-key", files.key]
            if required { arguments.append("--require-starttls") }
        case .implicitTLS(let files):
            arguments += ["--tls-cert", files.certificate, "--tls-key", files.key, "--implicit-tls"]
        }
        if let auth {
            arguments += ["--auth-user", auth.username, "--auth-password", auth.password]
            if auth.allowPlaintext { arguments.append("--auth-allow-plaintext") }
            for mechanism in auth.exclude { arguments += ["--auth-exclude", mechanism] }
        }
        for address in rejected { arguments += ["--reject-rcpt", address] }
        let (python, script) = try Self.command()
        let process = try ChildProcess(name: "dev-smtp", executable: python, arguments: [script] + arguments)
        do {
            try await process.wait(for: "listening", timeout: .seconds(20)) {
                FileManager.default.fileExists(atPath: portFile)
            }
            let text = try String(contentsOfFile: portFile, encoding: .utf8)
            let port = try #require(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)))
            return DevSMTPServer(port: port, directory: directory, process: process)
        } catch {
            await process.stop(grace: .seconds(2))
            throw error
        }
    }

    /// The messages received so far, oldest first.
    func received() throws -> [ReceivedMail] {
        let mail = self.directory.appendingPathComponent("mail")
        let sidecars = try FileManager.default.contentsOfDirectory(atPath: mail.path)
            .filter { $0.hasSuffix(".json") }
            .sorted()  // 000001.json, 000002.json, …
        return try sidecars.map { name in
            let base = mail.appendingPathComponent(String(name.dropLast(".json".count)))
            var received = try JSONDecoder().decode(
                ReceivedMail.self,
                from: Data(contentsOf: base.appendingPathExtension("json"))
            )
            received.raw = Array(try Data(contentsOf: base.appendingPathExtension("eml")))
            return received
        }
    }

    /// Every AUTH attempt the server saw (mechanism, login, success).
    func authAttempts() throws -> [AuthAttempt] {
        let file = self.directory.appendingPathComponent("mail/auth.jsonl")
        guard FileManager.default.fileExists(atPath: file.path) else { return [] }
        return try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(AuthAttempt.self, from: Data($0.utf8))
        }
    }

    /// Freezes the process (SIGSTOP): the kernel still accepts connections, but nothing answers.
    func freeze() { kill(self.process.pid, SIGSTOP) }

    func thaw() { kill(self.process.pid, SIGCONT) }

    /// Stops the server; what it received stays readable until this object goes away.
    func stop() async {
        self.thaw()
        await self.process.stop(grace: .seconds(5))
    }

    deinit {
        if self.process.isRunning { kill(self.process.pid, SIGKILL) }
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// The log tail, for failure messages.
    var log: String { self.process.logTail() }

    struct NotInstalled: Error, CustomStringConvertible {
        var description: String {
            "STOREFRONT_DEV_SMTP is not set and .venv/bin/python is missing: run the tests through scripts/test"
        }
    }

    /// The venv's Python and the server script: from `STOREFRONT_DEV_PYTHON` and `STOREFRONT_DEV_SMTP` (what
    /// scripts/test exports), else found from this file's place in the repository.
    private static func command() throws -> (python: String, script: String) {
        let environment = ProcessInfo.processInfo.environment
        if let python = environment["STOREFRONT_DEV_PYTHON"], !python.isEmpty,
            let script = environment["STOREFRONT_DEV_SMTP"], !script.isEmpty
        {
            return (python, script)
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let python = root.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw NotInstalled()
        }
        return (python, root.appendingPathComponent("scripts/dev-smtp.py").path)
    }
}

extension DevSMTPServer.ReceivedMail {
    /// The header fields, unfolded, by lower-cased name (the last one wins).
    var headers: [String: String] {
        let text = String(decoding: self.raw, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return [:] }
        let unfolded = text[..<end.lowerBound].replacingOccurrences(of: "\r\n ", with: " ")
            .replacingOccurrences(of: "\r\n\t", with: " ")
        var headers: [String: String] = [:]
        for line in unfolded.components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces
            )
        }
        return headers
    }

    /// The body after the blank line, as sent (still transfer-encoded).
    var encodedBody: String {
        let text = String(decoding: self.raw, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return "" }
        return String(text[end.upperBound...])
    }

    /// The body, quoted-printable decoded (RFC 2045 §6.7) and read as UTF-8.
    var body: String {
        var bytes: [UInt8] = []
        let encoded = Array(self.encodedBody.utf8)
        var index = 0
        func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 0x30...0x39: byte - 0x30
            case 0x41...0x46: byte - 0x41 + 10
            case 0x61...0x66: byte - 0x61 + 10
            default: nil
            }
        }
        while index < encoded.count {
            let byte = encoded[index]
            if byte == UInt8(ascii: "=") {
                if index + 2 < encoded.count, encoded[index + 1] == 0x0D, encoded[index + 2] == 0x0A {
                    index += 3  // soft line break
                    continue
                }
                if index + 2 < encoded.count, let high = hexValue(encoded[index + 1]),
                    let low = hexValue(encoded[index + 2])
                {
                    bytes.append(high << 4 | low)
                    index += 3
                    continue
                }
            }
            bytes.append(byte)
            index += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A header's text with RFC 2047 `=?utf-8?b?…?=` words decoded (the space between two adjacent encoded words
    /// is dropped; other spaces stay).
    func decodedHeader(_ name: String) -> String? {
        guard let value = self.headers[name.lowercased()] else { return nil }
        func decoded(_ word: Substring) -> [UInt8]? {
            guard word.lowercased().hasPrefix("=?utf-8?b?"), word.hasSuffix("?="),
                let data = Data(base64Encoded: String(word.dropFirst("=?utf-8?b?".count).dropLast(2)))
            else { return nil }
            return Array(data)
        }
        var bytes: [UInt8] = []
        var previousWasEncoded = false
        for (index, word) in value.split(separator: " ").enumerated() {
            let encoded = decoded(word)
            if index > 0 && !(previousWasEncoded && encoded != nil) { bytes.append(UInt8(ascii: " ")) }
            bytes += encoded ?? Array(word.utf8)
            previousWasEncoded = encoded != nil
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

enum SMTPTests {
    static var logger: Logger { Logger(label: "smtp-tests") }

    /// A sender for `server` from SMTP settings (dotted keys); `smtp.host` is `localhost` unless given.
    static func sender(_ server: DevSMTPServer?, _ settings: [String: String] = [:]) throws -> SMTPSender {
        var values = ["smtp.host": "localhost", "smtp.from": "Storefront <no-reply@shop.example>"]
        if let server { values["smtp.port"] = String(server.port) }
        values.merge(settings) { $1 }
        let configuration = try #require(try SMTPConfiguration(setting: { key, _ in values[key] }))
        return try SMTPSender(configuration: configuration, logger: Self.logger)
    }

    static func message(
        to: String = "nora@example.com",
        subject: String = "Notification from Storefront",
        body: String = "Hello Nora.",
        id: String = "e-\(UUID().uuidString.prefix(8)):0123456789abcdef01234567"
    ) -> OutgoingMessage {
        OutgoingMessage(to: to, subject: subject, body: body, notificationID: id)
    }

    /// Runs `body` and returns the ``SMTPError`` it throws (failing the test when it throws none or another error).
    static func smtpError(
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () async throws -> Void
    ) async -> SMTPError? {
        do {
            try await body()
            Issue.record("expected an SMTPError, but the message was sent", sourceLocation: sourceLocation)
        } catch let error as SMTPError {
            return error
        } catch {
            Issue.record("expected an SMTPError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }
}
