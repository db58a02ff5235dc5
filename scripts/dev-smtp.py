"""A real local SMTP server for development and the notification service's tests (aiosmtpd, asyncio).

    .venv/bin/python scripts/dev-smtp.py --out-dir DIR [--port 0] [--port-file FILE]
        [--tls-cert CERT.pem --tls-key KEY.pem [--require-starttls | --implicit-tls]]
        [--auth-user NAME --auth-password SECRET [--auth-allow-plaintext] [--auth-exclude PLAIN]]
        [--reject-rcpt ADDRESS ...]

Listens on 127.0.0.1 only. With --port 0 (the default) the kernel picks a free port; the port is printed
("dev-smtp: listening on 127.0.0.1:PORT") and, with --port-file, written to that file (atomically, once the
server accepts connections), so a test can wait for the file and read it.

TLS: with --tls-cert/--tls-key the server offers STARTTLS (and, with --require-starttls, refuses mail before it);
with --implicit-tls as well it speaks TLS from the first byte instead (port 465 style) and offers no STARTTLS.
AUTH (PLAIN, LOGIN): with --auth-user/--auth-password; only over TLS unless --auth-allow-plaintext;
--auth-exclude MECHANISM stops offering one (repeatable).
--reject-rcpt ADDRESS answers RCPT TO for that address with 550 (repeatable).

Every accepted message is written to --out-dir as 000001.eml, 000002.eml, … (the raw bytes of DATA, as received,
after the dot-unstuffing) and then 000001.json, …: {"mail_from", "rcpt_tos", "tls", "tls_version", "login"}. Every
AUTH attempt is appended to auth.jsonl: {"mechanism", "login", "success"} (never the password). Stops on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import json
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def write_atomically(path, data):
    temporary = path + ".tmp"
    with open(temporary, "wb") as file:
        file.write(data)
    os.replace(temporary, path)


def tls_info(server):
    """Whether the session is encrypted (STARTTLS or implicit TLS), and its protocol version."""
    transport = server.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return False, None
    return True, ssl_object.version()


class Handler:
    def __init__(self, out_dir, rejected):
        self.out_dir = out_dir
        self.rejected = {address.lower() for address in rejected}
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.rejected:
            return "550 5.1.1 <%s>: mailbox unavailable (rejected by dev-smtp)" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        tls, version = tls_info(server)
        login = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode("utf-8", "replace")
        base = os.path.join(self.out_dir, "%06d" % self.count)
        content = envelope.original_content if envelope.original_content is not None else envelope.content
        write_atomically(base + ".eml", content)
        sidecar = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": tls,
            "tls_version": version,
            "login": login,
        }
        write_atomically(base + ".json", json.dumps(sidecar).encode())
        return "250 2.0.0 OK: queued as %d" % self.count


class Authenticator:
    """Checks one user name and password and records every attempt in auth.jsonl."""

    def __init__(self, out_dir, user, password):
        self.path = os.path.join(out_dir, "auth.jsonl")
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        login = None
        success = False
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode("utf-8", "replace")
            success = auth_data.login == self.user and auth_data.password == self.password
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(json.dumps({"mechanism": mechanism, "login": login, "success": success}) + "\n")
        return AuthResult(success=success, handled=False, auth_data=auth_data if success else None)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description="A local SMTP server that writes what it receives to a folder.")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--port-file", help="write the bound port to this file once listening")
    parser.add_argument("--out-dir", required=True, help="folder for received messages and auth.jsonl")
    parser.add_argument("--tls-cert", help="PEM certificate (chain) for STARTTLS or implicit TLS")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument("--require-starttls", action="store_true", help="refuse commands before STARTTLS")
    parser.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte, no STARTTLS")
    parser.add_argument("--auth-user", help="the one user name AUTH accepts")
    parser.add_argument("--auth-password", help="its password")
    parser.add_argument("--auth-allow-plaintext", action="store_true", help="offer AUTH without TLS as well")
    parser.add_argument("--auth-exclude", action="append", default=[], help="do not offer this mechanism (PLAIN)")
    parser.add_argument("--reject-rcpt", action="append", default=[], help="answer RCPT TO for it with 550")
    arguments = parser.parse_args(argv)
    if (arguments.tls_cert is None) != (arguments.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if (arguments.require_starttls or arguments.implicit_tls) and arguments.tls_cert is None:
        parser.error("--require-starttls and --implicit-tls need --tls-cert and --tls-key")
    if (arguments.auth_user is None) != (arguments.auth_password is None):
        parser.error("--auth-user and --auth-password go together")
    return arguments


async def serve(arguments):
    os.makedirs(arguments.out_dir, exist_ok=True)
    context = None
    if arguments.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(arguments.tls_cert, arguments.tls_key)
    handler = Handler(arguments.out_dir, arguments.reject_rcpt)
    options = {"hostname": "dev-smtp.localhost", "ident": "dev-smtp (aiosmtpd)"}
    if arguments.auth_user is not None:
        options["authenticator"] = Authenticator(arguments.out_dir, arguments.auth_user, arguments.auth_password)
        # aiosmtpd only counts STARTTLS as TLS: with implicit TLS the session is encrypted from the start.
        options["auth_require_tls"] = not (arguments.auth_allow_plaintext or arguments.implicit_tls)
        options["auth_exclude_mechanism"] = arguments.auth_exclude
    if context is not None and not arguments.implicit_tls:
        options["tls_context"] = context
        options["require_starttls"] = arguments.require_starttls
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, loop=loop, **options),
        host="127.0.0.1",
        port=arguments.port,
        ssl=context if arguments.implicit_tls else None,
    )
    port = server.sockets[0].getsockname()[1]
    print("dev-smtp: listening on 127.0.0.1:%d" % port, flush=True)
    if arguments.port_file:
        write_atomically(arguments.port_file, b"%d\n" % port)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()
    print("dev-smtp: stopped", flush=True)


def main(argv):
    asyncio.run(serve(parse_arguments(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
