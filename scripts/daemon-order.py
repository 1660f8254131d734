#!/usr/bin/env python3
"""Record the functions the daemon modes run, for the static binary's code layout.

    scripts/daemon-order.sh          # builds, then runs this with the test venv's python

    daemon-order.py BIN OUT [DIR...] # BIN: a static build with its symbol table; DIR:
                                     # more callgrind.* outputs of BIN to include

Runs BIN's `check-config`, `fetch`, `agent` and `exec` under valgrind's callgrind against a
moto Secrets Manager server and the local provider, the way a sidecar is used: string,
binary, JSON-key and dotenv secrets, a template, an optional secret that is missing, a
provider-held certificate served on the HTTPS health listener, a local-CA certificate that
renews, health and metrics scrapes, a changed secret with command and HTTP notifications,
SIGHUP reload and SIGTERM shutdown. Writes every function that ran, one symbol per line, to
OUT (the `--symbol-ordering-file` of scripts/build-static.sh), together with the names
already in OUT that BIN still has. Loopback only; no secret value is printed.
"""
import datetime
import http.server
import ipaddress
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(f"daemon-order: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"daemon-order: timed out waiting for {what}")


def generation(out_dir):
    try:
        return os.readlink(os.path.join(out_dir, "..data"))
    except OSError:
        return None


def get(url, context=None):
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as r:
            r.read()
    except urllib.error.HTTPError as e:
        # /readyz may answer 503 while a secret is stale, /nope is a 404 on purpose: the
        # calls still ran the code.
        if not url.endswith("/nope"):
            log(f"GET {url}: {e}")
    except OSError as e:
        log(f"GET {url}: {e}")


def scrape(base, context=None):
    for path in ("/healthz", "/readyz", "/metrics", "/nope"):
        get(base + path, context)


def pem_bundle(work):
    """A CA and a leaf for 127.0.0.1, as PEM (leaf, CA, key) in one string, and the CA file."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "daemon-order CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    ca_file = os.path.join(work, "ca.pem")
    with open(ca_file, "w") as f:
        f.write(ca_pem)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return leaf.public_bytes(serialization.Encoding.PEM).decode() + ca_pem + key_pem, ca_file


class Hook(http.server.BaseHTTPRequestHandler):
    """The target of the HTTP notification."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    binary, out = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    extra = [os.path.abspath(d) for d in sys.argv[3:]]
    work = tempfile.mkdtemp(prefix="elastics-order.")
    shm = tempfile.mkdtemp(prefix="elastics-order.", dir="/dev/shm")
    procs = []
    try:
        run(binary, out, work, shm, procs, extra)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)


def run(binary, out, work, shm, procs, extra):
    env = dict(os.environ)
    # Loopback only, static test credentials, never an instance metadata probe.
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
    )
    os.environ.update(env)

    moto_port = free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    moto = subprocess.Popen(
        [
            os.environ.get("MOTO_SERVER") or os.path.join(os.path.dirname(sys.executable), "moto_server"),
            "-H", "127.0.0.1", "-p", str(moto_port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    procs.append(moto)
    wait_for("moto", lambda: _up(endpoint + "/moto-api/"), 60)

    sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")
    for i in range(30):
        sm.create_secret(Name=f"order-{i:03d}", SecretString=f"value-{i}-" + "x" * 40)
    sm.create_secret(Name="order-binary", SecretBinary=os.urandom(64))
    sm.create_secret(Name="order-b64", SecretString="c2VjcmV0LWJ5dGVzLTAxMjM0NTY3ODk=")
    sm.create_secret(Name="order-db", SecretString='{"username": "orders", "password": "pw-0123456789"}')
    bundle, ca_file = pem_bundle(work)
    sm.create_secret(Name="order-tls", SecretString=bundle)

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()

    health = free_port()
    aws_out = os.path.join(shm, "aws")
    secrets = "".join(
        f'\n[[secret]]\nname = "order-{i:03d}"\nprovider = "aws"\n' for i in range(30)
    )
    aws_toml = os.path.join(work, "aws.toml")
    with open(aws_toml, "w") as f:
        f.write(
            f"""environment = "development"

[output]
dir = "{aws_out}"
mode = "0400"

[agent]
refresh = "3s"
listen = "127.0.0.1:{health}"
tls_certificate = "order-tls"

[fetch]
concurrency = 16

[providers.aws]
type = "aws-secrets-manager"
region = "us-east-1"
endpoint_url = "{endpoint}"
{secrets}
[[secret]]
name = "order-binary"
provider = "aws"
file = "binary"

[[secret]]
name = "order-b64"
provider = "aws"
format = "base64-decode"

[[secret]]
name = "db_password"
provider = "aws"
id = "order-db"
json_key = "password"

[[secret]]
name = "db_env"
provider = "aws"
id = "order-db"
format = "dotenv"
file = "db.env"

[[secret]]
name = "db_url"
provider = "aws"
id = "order-db"
template = "postgres://{{{{ secrets.db_password }}}}@db/orders"

[[secret]]
name = "order-missing"
provider = "aws"
required = false

[[certificate]]
name = "order-tls"
provider = "aws"
sans = ["127.0.0.1"]

[[notify]]
type = "command"
command = ["/bin/true"]

[[notify]]
type = "http"
url = "http://127.0.0.1:{hook.server_address[1]}/reload"
"""
        )

    cg = os.path.join(work, "callgrind.%p")
    valgrind = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=" + cg, "--demangle=no",
        "--dump-line=no", "--dump-instr=no", "--compress-strings=no", "--compress-pos=no", "-q",
    ]

    def once(*args):
        log(" ".join(args))
        done = subprocess.run(valgrind + [binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if done.returncode != 0:
            raise SystemExit(f"daemon-order: {' '.join(args)}: exit {done.returncode}\n{done.stderr.decode()[-2000:]}")

    once("check-config", "--config", aws_toml)
    once("fetch", "--config", aws_toml)
    shutil.rmtree(aws_out)

    log("agent (Secrets Manager)")
    agent = subprocess.Popen(valgrind + [binary, "agent", "--config", aws_toml], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(agent)
    wait_for("the first generation", lambda: generation(aws_out) is not None, 300)
    tls = ssl.create_default_context(cafile=ca_file)
    base = f"https://127.0.0.1:{health}"
    wait_for("the HTTPS health listener", lambda: _up(base + "/healthz", tls), 120)
    scrape(base, tls)
    first = generation(aws_out)
    sm.put_secret_value(SecretId="order-000", SecretString="changed-" + "y" * 40)
    sm.put_secret_value(SecretId="order-db", SecretString='{"username": "orders", "password": "pw-changed"}')
    wait_for("a new generation", lambda: generation(aws_out) not in (None, first), 180)
    scrape(base, tls)
    agent.send_signal(signal.SIGHUP)
    time.sleep(10)
    scrape(base, tls)
    agent.send_signal(signal.SIGTERM)
    if agent.wait(timeout=120) != 0:
        raise SystemExit(f"daemon-order: agent exited {agent.returncode}")

    # The local provider and a local CA that renews within the run.
    local_out = os.path.join(shm, "local")
    health2 = free_port()
    shutil.copy(os.path.join(ROOT, "examples/local/secrets.toml"), work)
    with open(os.path.join(ROOT, "examples/local/elastics-sec.toml")) as f:
        text = f.read()
    for pattern, repl in (
        (r'(?m)^dir = ".*"', f'dir = "{local_out}"'),
        (r'(?m)^listen = "[^"]*"', f'listen = "127.0.0.1:{health2}"'),
        (r'(?m)^refresh = "[^"]*"', 'refresh = "3s"'),
        (r'(?m)^margin = "[^"]*"', 'margin = "5s"'),
        (r'(?m)^lifetime = "[^"]*"', 'lifetime = "30s"'),
    ):
        text, n = re.subn(pattern, repl, text)
        if n != 1:
            raise SystemExit(f"daemon-order: examples/local/elastics-sec.toml no longer has one {pattern}")
    local_toml = os.path.join(work, "local.toml")
    with open(local_toml, "w") as f:
        f.write(text)

    once("check-config", "--config", local_toml)
    log("agent (local provider, local CA)")
    agent = subprocess.Popen(valgrind + [binary, "agent", "--config", local_toml], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(agent)
    wait_for("the first generation", lambda: generation(local_out) is not None, 300)
    first = generation(local_out)
    base = f"http://127.0.0.1:{health2}"
    wait_for("the health listener", lambda: _up(base + "/healthz"), 120)
    scrape(base)
    wait_for("the certificate's renewal", lambda: generation(local_out) not in (None, first), 180)
    scrape(base)
    agent.send_signal(signal.SIGTERM)
    if agent.wait(timeout=120) != 0:
        raise SystemExit(f"daemon-order: agent exited {agent.returncode}")

    shutil.rmtree(local_out)
    once("exec", "--config", local_toml, "--", "/bin/sleep", "5")
    hook.shutdown()

    # name -> the runs (by command line, temporary paths cut to their last component) that
    # ran it.
    seen = {}
    runs = 0
    for d in [work, *extra]:
        for name in sorted(os.listdir(d)):
            if not name.startswith("callgrind."):
                continue
            runs += 1
            cmd = f"run {runs}"
            with open(os.path.join(d, name), errors="replace") as f:
                for line in f:
                    if line.startswith("cmd:"):
                        cmd = " ".join(os.path.basename(w) for w in line[4:].split())
                    elif line.startswith(("fn=", "cfn=")):
                        seen.setdefault(line.split("=", 1)[1].strip(), set()).add(cmd)
    log(f"{runs} profiled runs")
    # Which of the short-lived paths (a debouncer's drop, a timed wait) a run reaches
    # depends on timing, so names of earlier runs that the binary still has are kept: the
    # list only grows, and a regeneration never drops a path an earlier run saw.
    if os.path.exists(out):
        with open(out) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    seen.setdefault(line.strip(), set())
    symbols = set()
    nm = subprocess.run(["nm", "--defined-only", binary], stdout=subprocess.PIPE, check=True, text=True)
    for line in nm.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            symbols.add(parts[2])
    # Code every run needs first, then clusters of functions run by the same set of runs, so
    # that one provider's code (Secrets Manager, Key Vault, the local CA) sits together and
    # an agent that never calls another provider does not map its pages.
    ran = sorted(
        (n for n in seen if n in symbols),
        key=lambda n: (-len(seen[n]), sorted(seen[n]), n),
    )
    rustc = subprocess.run(["rustc", "--version"], stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    with open(out, "w") as f:
        f.write("# The functions elastics-sec's daemon modes ran, placed together by the linker.\n")
        f.write(f"# Generated by scripts/daemon-order.sh with {rustc}; regenerate after changing\n")
        f.write("# the toolchain, Cargo.lock, the release profile or features, or the daemon code.\n")
        f.write("# Names that no longer exist are ignored.\n")
        for s in ran:
            f.write(s + "\n")
    log(f"{len(ran)} functions written to {os.path.relpath(out, ROOT)}")


def _up(url, context=None):
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as r:
            r.read()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
