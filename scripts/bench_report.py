"""make bench's report: BENCHMARKS.md and benchmarks.png from bench/'s results.json.

Usage: bench_report.py RESULTS.json --out DIR [--arm64 DIR] [--command CMD]
       [--functions NAME...]

--arm64 names a directory holding, per function, `<name>/bootstrap.full`: the
release build with its symbol table, from which the size breakdown is read;
its deployed size is the file less what stripping removes. Its `openssl/*.a`
(the vendored OpenSSL's static libraries, as built) tell OpenSSL's symbols
from the rest.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import subprocess
from collections import defaultdict

import matplotlib

import bench_lambda

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# The targets (#14), as ratios to the floor measured in the same run.
COLD_TARGET = 2.0
# #25: the production-like cold request against the floor's, which loads the
# whole CA bundle; the first invocation after a healthy Init against a warm one.
PRODUCTION_COLD_TARGET = 0.35
FIRST_TARGET = 1.5
# The AWS SDK's cold start with secrets against the hand-signed call it replaced.
SECRETS_TARGET = 1.10
GET_TARGET = 1.2
ROUTE_TARGET = 1.3
THROUGHPUT_TARGET = 0.8
SIZE_TARGET = 10 * 1024 * 1024
LARGE_LIST_RSS_TARGET = 32 * 1024 * 1024
GET_ROUTE = "GET /api/tasks/{id}"


def mib(n):
    return f"{n / 1024 / 1024:.1f} MiB"


def ms(x):
    return f"{x:.2f}" if x >= 1 else f"{x:.3f}"


def cpu(result):
    """A throughput block's CPU per request: the function's / the machine's."""
    c = result["cpu_us_per_request"]
    return f"{c['function']:.0f} / {c['machine']:.0f}"


def verdict(ok):
    return "met" if ok else "**not met**"


def command(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def machine(settings):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = "?"
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores, {memory} memory",
        f"- OS: {platform.system()} {platform.release()}",
        f"- {command('rustc', '--version')}; "
        f"PostgreSQL {settings.get('postgres', '?')} on loopback",
        f"- commit {command('git', 'rev-parse', '--short', 'HEAD')}, "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
    ]


def crate_of(name):
    """The crate a Rust symbol (legacy mangling) belongs to, or None."""
    if not name.startswith("_ZN"):
        return None
    match = re.match(r"_ZN(\d+)", name)
    if not match:
        return None
    length = int(match.group(1))
    start = match.end()
    first = name[start:start + length]
    if first.startswith("_$LT$"):
        inner = first[len("_$LT$"):]
        # `<Type as Trait>`: the type's crate, else the trait's.
        for part in (inner, inner.split("$u20$as$u20$")[-1]):
            head = re.match(r"(?:\$RF\$|\$BP\$|mut\$u20\$|\$u5b\$)*([A-Za-z_][A-Za-z0-9_]*)\.\.", part)
            if head:
                return head.group(1)
        return "(generic impls)"
    return first


def stripped_size(full_path):
    """The file's size less the sections `strip` removes."""
    from elftools.elf.elffile import ELFFile

    removed = 0
    with open(full_path, "rb") as f:
        for section in ELFFile(f).iter_sections():
            if section.name in (".symtab", ".strtab") or section.name.startswith(".debug"):
                removed += section["sh_size"] + 64  # and its section header
    return os.path.getsize(full_path) - removed


def rust_crate_v0(name):
    """The crate of a Rust symbol in v0 mangling (`_R...`; the standard
    library's are), or None: the first crate root in its path."""
    match = re.match(r"_R.*?C(?:s[0-9A-Za-z]*_)?(\d+)", name)
    if not match:
        return None
    length = int(match.group(1))
    return name[match.end():match.end() + length] or None


def archive_symbols(path):
    """Names of the functions and objects an `ar` archive's members define."""
    import io

    from elftools.elf.elffile import ELFFile

    names = set()
    with open(path, "rb") as f:
        data = f.read()
    offset = 8  # "!<arch>\n"
    while offset + 60 <= len(data):
        header = data[offset:offset + 60]
        size = int(header[48:58].decode().strip())
        body = data[offset + 60:offset + 60 + size]
        if body[:4] == b"\x7fELF":
            symtab = ELFFile(io.BytesIO(body)).get_section_by_name(".symtab")
            for symbol in symtab.iter_symbols() if symtab is not None else ():
                if symbol["st_shndx"] != "SHN_UNDEF" and symbol["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT"):
                    names.add(symbol.name)
        offset += 60 + size + (size & 1)
    return names


def breakdown(full_path, openssl):
    """Sizes of the allocated sections, and of the symbols by crate;
    `openssl` holds the names OpenSSL's archives define."""
    from elftools.elf.elffile import ELFFile

    sections = {}
    crates = defaultdict(int)
    with open(full_path, "rb") as f:
        elf = ELFFile(f)
        for section in elf.iter_sections():
            if section["sh_flags"] & 0x2:  # SHF_ALLOC
                sections[section.name] = section["sh_size"]
        symtab = elf.get_section_by_name(".symtab")
        if symtab is not None:
            seen = set()
            for symbol in symtab.iter_symbols():
                size = symbol["st_size"]
                if size == 0 or symbol["st_info"]["type"] not in ("STT_FUNC", "STT_OBJECT"):
                    continue
                key = (symbol["st_value"], size)
                if key in seen:
                    continue
                seen.add(key)
                name = symbol.name
                crate = crate_of(name) or rust_crate_v0(name)
                if crate is None:
                    if name in openssl:
                        crate = "OpenSSL (C)"
                    elif name.startswith("anon."):
                        crate = "Rust constants (unnamed)"
                    else:
                        crate = "other C / runtime"
                crates[crate] += size
    return sections, crates


def cold_table(results, lines):
    for setup, functions in results["cold_start"].items():
        floor = functions.get("floor")
        lines.append(f"\n**{setup}**\n")
        lines.append("| function | Init p50 / max (ms) | first invocation p50 / max (ms) "
                     "| cold = Init + first, p50 / max (ms) | cold ÷ floor | Init ÷ floor "
                     "| same request warm, p50 (ms) | first ÷ warm | peak RSS |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for name, v in functions.items():
            ratio_cold = v["cold"]["p50_ms"] / floor["cold"]["p50_ms"] if floor else 0
            ratio_init = v["init"]["p50_ms"] / floor["init"]["p50_ms"] if floor else 0
            warm = v.get("warm")
            lines.append(
                f"| {name} | {ms(v['init']['p50_ms'])} / {ms(v['init']['max_ms'])} "
                f"| {ms(v['first']['p50_ms'])} / {ms(v['first']['max_ms'])} "
                f"| {ms(v['cold']['p50_ms'])} / {ms(v['cold']['max_ms'])} "
                f"| {ratio_cold:.2f}× | {ratio_init:.2f}× "
                f"| {ms(warm['p50_ms']) if warm else '–'} "
                f"| {first_over_warm(v):.2f}× | {mib(v['peak_rss_bytes'])} |"
            )


def first_over_warm(v):
    warm = v.get("warm")
    return v["first"]["p50_ms"] / warm["p50_ms"] if warm and warm["p50_ms"] else 0


def round_trips_table(results, settings, lines, targets):
    """The network setup against the production-like one: what the delays
    added, in round trips, for the API and the floor."""
    cold = results["cold_start"]
    network, local = cold.get("network"), cold.get("production-like")
    if not network or not local:
        return
    rtt = settings["rtt_ms"]
    lines += ["", "### Round trips", "",
              f"The network setup reaches the database and the JWKS through the bench's own "
              f"proxy (bench/src/delay.rs), which delays every byte {rtt / 2:g} ms each way "
              f"(a {rtt:g} ms round trip, TCP's handshake included). Round trips = (network "
              "cold − production-like cold) ÷ RTT: the round trips on the critical path from "
              "process start to the response's first byte. Init's share is what Lambda may "
              "hide (proactive initialisation, provisioned concurrency); the first "
              "invocation's share is what a user meets after it.", "",
              "| function | cold over the network p50 (ms) | round trips, cold | of which Init "
              "| of which first invocation |",
              "|---|---|---|---|---|"]
    for name, v in network.items():
        base = local.get(name)
        if not base:
            continue
        trips = {part: (v[part]["p50_ms"] - base[part]["p50_ms"]) / rtt
                 for part in ("cold", "init", "first")}
        lines.append(f"| {name} | {ms(v['cold']['p50_ms'])} | {trips['cold']:.1f} "
                     f"| {trips['init']:.1f} | {trips['first']:.1f} |")
    lines += ["", "`+direct`: the same URL with `sslnegotiation=direct` (TLS at once, no "
              "`SSLRequest` first: docs/deploy.md). `+secrets`: the URL read from Secrets Manager "
              "at Init, through the same delay: its fetch (TCP, TLS, the `GetSecretValue` call: "
              "3 round trips, credentials from the environment as in Lambda) must end before the "
              "database's connection can start, while the JWKS fetch runs beside both."]
    api, floor = network.get("tasks-item"), network.get("floor")
    if api and floor:
        ratio = api["cold"]["p50_ms"] / floor["cold"]["p50_ms"]
        targets.append(("cold request over the network ≤ floor's, tasks-item",
                        f"{ratio:.2f}×", ratio <= 1.0))
    direct, base = network.get("tasks-item+direct"), local.get("tasks-item+direct")
    if direct and base and floor:
        trips = {part: (direct[part]["p50_ms"] - base[part]["p50_ms"]) / rtt
                 for part in ("cold", "init", "first")}
        for part, limit, what in (("init", 6.2, "Init's"), ("cold", 7.3, "a cold request's"),
                                  ("first", 1.2, "the first invocation's")):
            targets.append((f"{what} round trips ≤ {limit}, direct TLS, network",
                            f"{trips[part]:.1f}", trips[part] <= limit))
        ratio = direct["cold"]["p50_ms"] / floor["cold"]["p50_ms"]
        targets.append(("cold request over the network ≤ 0.55× floor's, tasks-item, direct TLS",
                        f"{ratio:.2f}×", ratio <= 0.55))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--out", required=True)
    parser.add_argument("--arm64")
    parser.add_argument("--command", default="make bench")
    parser.add_argument("--functions", nargs="*", default=[])
    args = parser.parse_args()
    with open(args.results) as f:
        results = json.load(f)
    settings = results["settings"]
    targets = []
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{args.command}` (xtask/src/bench.rs, bench/); do not edit by hand.",
        "Every ratio compares two figures taken in the same run, alternating: absolute "
        "numbers move from machine to machine and run to run, ratios much less.",
        "",
        "## Machine",
        "",
        *machine(settings),
        "",
        "## How",
        "",
        "Release builds of the real `bootstrap` binaries run under a minimal Lambda Runtime API "
        "written for the benchmark (bench/src/runtime.rs: blocking threads, `TCP_NODELAY`, each "
        f"answer in one write), one runtime API per instance, against a throwaway PostgreSQL {settings.get('postgres', '?')} "
        "on loopback with pg_stat_statements and a real Better Auth (its JWKS over HTTPS). "
        "Latency is from writing the event to having read the whole response. Functions log as "
        "in AWS (JSON, INFO) to a file. Every binary links OpenSSL as the deployed ones do: "
        "vendored (built from source with .cargo/openssl-perl's configuration) and static; "
        "the machine's own OpenSSL 3.0, as a shared library, parsed the floor's CA bundle four "
        "times slower.",
        "",
        "**The floor** (bench/src/bin/floor.rs) is the least a function can do for a task route: "
        "a bare `lambda_runtime` function on one `tokio-postgres` connection opened at Init (over "
        "TLS when the URL says `sslmode=require`), no auth, validation, pool, logging or error "
        "contract, running the API's own SQL statement for the route (`todo_shared::tasks`) and "
        "writing the rows as JSON.",
        "",
        f"Counts: {settings['starts']} cold starts per function and setup (after one unrecorded), "
        f"{settings['requests']} warm requests per route and target, "
        f"{settings['seconds']:.1f} s per throughput figure and target, in "
        f"{settings['throughput_rounds']} blocks alternating with the other target's.",
        "",
        "Setups: **local** = loopback database without TLS and HS256 tokens (`make dev`); "
        "**production-like** = `sslmode=require` to a server whose certificate comes from a test "
        "CA appended last to a copy of the system CA bundle (`SSL_CERT_FILE`), so the whole bundle is "
        "the trust set as in AWS, and EdDSA tokens verified against Better Auth's JWKS fetched over HTTPS; "
        "**network** = production-like through a delaying proxy (below). Every instance starts with "
        "an empty `TMPDIR` of its own, as a new Lambda sandbox's `/tmp`, so nothing a cold start "
        "writes there (the API's hashed trust directory, docs/performance.md) helps the next one.",
    ]

    if "cold_start" in results:
        lines += ["", "## Cold start", "",
                  "Init is process start to the first `/next`. Both the floor and the API's task "
                  "functions open their database connection during Init; the API also fetches the "
                  "JWKS there, at the same time, within a 1 s budget (a failure leaves both to the "
                  "first request). The first invocation is the first request's latency; what the "
                  "first user waits for is the sum. *Same request warm* is the median of the same "
                  "event sent five more times to that instance."]
        cold_table(results, lines)
        round_trips_table(results, settings, lines, targets)
        if any(name.endswith("+secrets") for f in results["cold_start"].values() for name in f):
            lines += ["", "`+secrets`: the same binary started with `DATABASE_URL_SECRET_ARN` instead of "
                      "`DATABASE_URL`, so Init also reads the secret with the AWS SDK (aws-config's "
                      "provider chain, `GetSecretValue`) from a local Secrets Manager (moto) over TLS, "
                      "as a cold start in AWS does. A row named `<function>@<commit>+secrets` is that "
                      "commit's build, run alongside for a before/after (`BENCH_BEFORE=<commit>`)."]
        if any(name.endswith("-arm64") for f in results["cold_start"].values() for name in f):
            lines += ["", "`tasks-item-arm64` (smoke runs only) is the arm64 build `sam build` made, "
                      "run under qemu: a check that it serves a request over TLS, not a measurement."]
        for setup, functions in results["cold_start"].items():
            floor = functions["floor"]
            for name, v in functions.items():
                if name == "floor" or name not in ("tasks-item", "tasks-collection"):
                    continue
                cold = v["cold"]["p50_ms"] / floor["cold"]["p50_ms"]
                init = v["init"]["p50_ms"] / floor["init"]["p50_ms"]
                targets.append((f"cold start ≤ {COLD_TARGET}× floor, {name}, {setup}",
                                f"{cold:.2f}×", cold <= COLD_TARGET))
                targets.append((f"Init ≤ {COLD_TARGET}× floor's Init, {name}, {setup}",
                                f"{init:.2f}×", init <= COLD_TARGET))
            item = functions.get("tasks-item")
            if setup == "production-like" and item:
                cold = item["cold"]["p50_ms"] / floor["cold"]["p50_ms"]
                targets.append((f"cold request ≤ {PRODUCTION_COLD_TARGET}× floor, tasks-item, {setup}",
                                f"{cold:.2f}×", cold <= PRODUCTION_COLD_TARGET))
            if setup in ("production-like", "network") and item and item.get("warm"):
                ratio = first_over_warm(item)
                targets.append((f"first invocation ≤ {FIRST_TARGET}× the same request warm, "
                                f"tasks-item, {setup}", f"{ratio:.2f}×", ratio <= FIRST_TARGET))
            after = functions.get("tasks-item+secrets")
            for name, before in functions.items():
                if after and "@" in name and name.endswith("+secrets"):
                    ratio = after["cold"]["p50_ms"] / before["cold"]["p50_ms"]
                    targets.append((f"cold start with secrets ≤ {SECRETS_TARGET}× {name}, {setup}",
                                    f"{ratio:.2f}×", ratio <= SECRETS_TARGET))

    if "warm" in results:
        warm = results["warm"]
        lines += ["", "## Warm requests, one instance", "",
                  f"One request at a time, in {settings['warm_rounds']} rounds with fresh "
                  "instances of the API's functions and the floor, each round in ten blocks alternating "
                  "between them.", "",
                  "| route | function | API p50 / p99 (ms) | floor p50 / p99 (ms) | p50 ÷ floor "
                  "| target | statements per request |",
                  "|---|---|---|---|---|---|---|"]
        for route, v in warm["routes"].items():
            ratio = v["api"]["p50_ms"] / v["floor"]["p50_ms"]
            target = GET_TARGET if route == GET_ROUTE else ROUTE_TARGET
            lines.append(
                f"| `{route}` | {v['function']} | {ms(v['api']['p50_ms'])} / {ms(v['api']['p99_ms'])} "
                f"| {ms(v['floor']['p50_ms'])} / {ms(v['floor']['p99_ms'])} | {ratio:.2f}× "
                f"| ≤ {target}× | {v['statements_per_request']:.2f} |"
            )
            targets.append((f"warm p50 ≤ {target}× floor, {route}", f"{ratio:.2f}×", ratio <= target))
            targets.append((f"one statement per request, {route}",
                            f"{v['statements_per_request']:.2f}", abs(v["statements_per_request"] - 1) < 1e-9))
        lines += ["", "Statements per request: pg_stat_statements' calls by the API's own role "
                  "during the API's blocks, over the requests sent (the floor connects as another role)."]
        rss = warm["peak_rss_bytes"]
        lines += ["", "Peak RSS after the warm run: " + ", ".join(
            f"{name} {mib(v)}" for name, v in rss.items() if v) + "."]

    if "throughput" in results:
        lines += ["", "## Throughput (closed loop, all instances on the same 2 cores)", "",
                  "| route | instances | API req/s | floor req/s | API ÷ floor | API p50 / p99 (ms) "
                  "| floor p50 / p99 (ms) | CPU µs per request, API: function / machine "
                  "| floor: function / machine |",
                  "|---|---|---|---|---|---|---|---|---|"]
        rows = defaultdict(dict)
        for t in results["throughput"]:
            rows[(t["route"], t["instances"])][t["target"]] = t["result"]
        for (route, instances), v in rows.items():
            api, floor = v["api"], v["floor"]
            ratio = api["requests_per_second"] / floor["requests_per_second"]
            lines.append(
                f"| `{route}` | {instances} | {api['requests_per_second']:,.0f} "
                f"| {floor['requests_per_second']:,.0f} | {ratio:.2f}× "
                f"| {ms(api['latency']['p50_ms'])} / {ms(api['latency']['p99_ms'])} "
                f"| {ms(floor['latency']['p50_ms'])} / {ms(floor['latency']['p99_ms'])} "
                f"| {cpu(api)} | {cpu(floor)} |"
            )
            if instances == 8:
                targets.append((f"throughput with 8 instances ≥ {THROUGHPUT_TARGET}× floor, {route}",
                                f"{ratio:.2f}×", ratio >= THROUGHPUT_TARGET))
        saturated = [(route, v) for (route, instances), v in rows.items()
                     if instances == 8]
        if saturated:
            lines += ["", "CPU per request is each block's CPU time over its requests: the function "
                      "processes' (all their threads, the kernel's work on their behalf included), "
                      "PostgreSQL's, and the whole machine's (the driver and its Runtime API too). "
                      "With 8 instances the two cores are busy throughout, so requests per second "
                      "follow the machine's CPU per request:", ""]
            for route, v in saturated:
                a, f = v["api"]["cpu_us_per_request"], v["floor"]["cpu_us_per_request"]
                lines.append(
                    f"- `{route}`: the floor's {f['machine']:.0f} µs over the API's {a['machine']:.0f} "
                    f"µs is {f['machine'] / a['machine']:.2f}× (the measured throughput ratio: "
                    f"{v['api']['requests_per_second'] / v['floor']['requests_per_second']:.2f}×), "
                    f"and of the {a['machine'] - f['machine']:.0f} µs between them the function "
                    f"processes account for {a['function'] - f['function']:.0f} µs "
                    f"(PostgreSQL {a['database'] - f['database']:+.0f} µs).")
        unavailable = [(route, instances, v["api"]["unavailable"]) for (route, instances), v in rows.items()
                       if v["api"].get("unavailable")]
        if unavailable:
            lines += ["", "Answered 503 (a statement held past the functions' 5 s budget; "
                      "counted in the figures above): " + ", ".join(
                          f"`{route}` ×{instances}: {n}" for route, instances, n in unavailable) + "."]

    if "large_list" in results:
        v = results["large_list"]
        lines += ["", "## A page of large tasks", "",
                  f"A fresh `tasks-collection` answers the first page (limit 1,000) of a user with "
                  f"{v['tasks']:,} tasks of the largest size allowed (10,000 four-byte characters each, "
                  f"40 MB in all): {mib(v['response_bytes'])} sent, cut at the 5 MiB budget in the "
                  f"list statement itself. Peak RSS {mib(v['idle_peak_rss_bytes'])} after a small "
                  f"list, {mib(v['peak_rss_bytes'])} after the large one (target ≤ "
                  f"{mib(LARGE_LIST_RSS_TARGET)}; Lambda gives it 256 MB)."]
        targets.append((f"peak RSS of a page of large tasks ≤ {mib(LARGE_LIST_RSS_TARGET)}",
                        mib(v["peak_rss_bytes"]), v["peak_rss_bytes"] <= LARGE_LIST_RSS_TARGET))

    if "event_parsing" in results:
        v = results["event_parsing"]
        get = results.get("warm", {}).get("routes", {}).get(GET_ROUTE, {})
        gap = ""
        if get:
            api_us, floor_us = get["api"]["p50_ms"] * 1000, get["floor"]["p50_ms"] * 1000
            extra = v["lambda_http_microseconds"] - v["floor_microseconds"]
            gap = (f" The difference, {extra:.1f} µs, is {extra / (api_us - floor_us) * 100:.0f}% of the "
                   f"{api_us - floor_us:.0f} µs between the API's and the floor's warm `GET` by id p50, "
                   f"and {extra / floor_us * 100:.1f}% of the floor's p50: what the HTTP glue the "
                   "handlers are written against (lambda_http) costs before any of their code runs.")
        lines += ["", "## Parsing the event", "",
                  f"The `GET /api/tasks/{{id}}` event ({v['event_bytes']:,} bytes), in process: "
                  f"lambda_http's `http::Request` {v['lambda_http_microseconds']:.1f} µs, the floor's "
                  f"`serde_json::Value` {v['floor_microseconds']:.1f} µs.{gap}"]

    if "token_verification" in results:
        lines += ["", "## Verifying a token", "",
                  "In process, with the functions' own verifier (`todo_shared::auth::Verifier`), "
                  "keys already held:", ""]
        get_p50 = results.get("warm", {}).get("routes", {}).get(GET_ROUTE, {}).get("api", {}).get("p50_ms")
        for alg, v in results["token_verification"].items():
            share = f" ({v['microseconds'] / 1000 / get_p50 * 100:.0f}% of a warm `GET` by id)" if get_p50 else ""
            lines.append(f"- {alg}: {v['microseconds']:.1f} µs the first time a container sees a token{share}; "
                         f"{v['cached_microseconds']:.1f} µs for a token it has verified before")

    if "scale" in results:
        v = results["scale"]
        lines += ["", "## Scale: past the database's connections", "",
                  f"K instances of `tasks-item` at once, each sending {v['requests_per_instance']} "
                  f"`GET /api/tasks/{{id}}` one after the other, against a PostgreSQL of "
                  f"`max_connections` {v['max_connections']} (3 kept for superusers): **direct** = "
                  "straight to it, as Neon's direct endpoint (every container a server connection); "
                  "**pooled** = through PgBouncer in transaction mode with a server pool of "
                  f"{v['server_pool']}, as Neon's pooled endpoint. Server connections: the most the "
                  "API's role held at once (`pg_stat_activity`, sampled every 20 ms). A 503 is the "
                  "contract's answer to a database it cannot reach (here: `too many clients`); "
                  "docs/deploy.md (Capacity) has the model.", "",
                  "| K | endpoint | requests | 200 | 503 | other | requests/s | p50 | p99 | server connections |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for run in v["runs"]:
            lines.append(f"| {run['instances']} | {run['endpoint']} | {run['sent']:,} | {run['ok']:,} | "
                         f"{run['unavailable']:,} | {run['other']:,} | {run['requests_per_second']:,.0f} | "
                         f"{ms(run['p50_ms'])} | {ms(run['p99_ms'])} | {run['server_connections']} |")
        largest = max(run["instances"] for run in v["runs"])
        for run in v["runs"]:
            if run["instances"] == largest and run["endpoint"] == "pooled":
                errors = run["unavailable"] + run["other"]
                targets.append((f"{largest} instances through the pooler (server pool {v['server_pool']}): "
                                "no error", f"{errors} of {run['sent']:,}", errors == 0 and run["sent"] > 0))
        lines += ["", "![Throughput and errors by instances, direct and pooled](benchmarks-scale.png)"]

    if args.arm64:
        lines += ["", "## arm64 `bootstrap` sizes", "",
                  "As deployed: `cargo lambda build --release --arm64` with the workspace's "
                  "release profile, less the symbol table its `strip` removes:", "",
                  "| function | size | target |", "|---|---|---|"]
        details = []
        openssl = set()
        for archive in sorted(glob.glob(os.path.join(args.arm64, "openssl", "*.a"))):
            openssl |= archive_symbols(archive)
        for name in args.functions:
            full = os.path.join(args.arm64, name, "bootstrap.full")
            size = stripped_size(full)
            lines.append(f"| {name} | {mib(size)} ({size:,} bytes) | ≤ 10 MiB: {verdict(size <= SIZE_TARGET)} |")
            targets.append((f"arm64 bootstrap ≤ 10 MiB, {name}", mib(size), size <= SIZE_TARGET))
            sections, crates = breakdown(full, openssl)
            details.append((name, sections, crates))
        for name, sections, crates in details:
            top = sorted(sections.items(), key=lambda kv: -kv[1])[:6]
            lines += ["", f"**{name}**: what the loaded image holds, by section: " + ", ".join(
                f"`{s}` {mib(n)}" for s, n in top) + ".", ""]
            total = sum(crates.values())
            lines.append("| code and data by crate (symbol sizes) | size | share |")
            lines.append("|---|---|---|")
            for crate, n in sorted(crates.items(), key=lambda kv: -kv[1])[:15]:
                lines.append(f"| {crate} | {n / 1024:,.0f} KiB | {n / total * 100:.0f}% |")

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bench_lambda.section(results, lines, targets, args.out, os.path.join(root, "template.yaml"),
                         os.path.join(root, "bench", "billing.json"))
    if "init_parts" in results:
        v = results["init_parts"]
        lines += ["", "## What Init's CPU goes to", "",
                  "In process, each the mean of many: the parts of a production-like cold start that "
                  "no code of ours can make cheaper, against the 7.2 ms of CPU a 128 MB function "
                  "gets per 100 ms period:", "",
                  f"- SCRAM-SHA-256's key derivation (4,096 rounds of PBKDF2, as PostgreSQL and Neon "
                  f"store passwords): {v['scram_sha256_4096_us'] / 1000:.2f} ms",
                  f"- one TLS 1.3 handshake, the client's side (Init makes two: the database and the "
                  f"JWKS): {v['tls_handshake_client_cpu_us'] / 1000:.2f} ms",
                  f"- the index of the CA bundle's roots (instead of OpenSSL parsing them all): "
                  f"{v['roots_index_us'] / 1000:.2f} ms"]

    lines += ["", "## Targets (issues #14, #25, #29, #30, #41 and #42)", "", "| target | measured | |", "|---|---|---|"]
    for what, value, ok in targets:
        lines.append(f"| {what} | {value} | {verdict(ok)} |")
    lines += ["", "![Warm latency per route against the floor](benchmarks.png)", ""]
    with open(os.path.join(args.out, "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(lines))

    if "warm" in results:
        routes = list(results["warm"]["routes"].items())
        labels = [r.replace(" (20 tasks)", "\n(20 tasks)").replace("/complete", "\n/complete")
                  for r, _ in routes]
        x = range(len(routes))
        width = 0.38
        fig, ax = plt.subplots(figsize=(11, 5))
        for offset, key, label, color in ((-width / 2, "api", "API", "#2b6cb0"),
                                          (width / 2, "floor", "floor", "#a0aec0")):
            p50 = [v[key]["p50_ms"] for _, v in routes]
            p99 = [v[key]["p99_ms"] for _, v in routes]
            xs = [i + offset for i in x]
            ax.bar(xs, p50, width, label=f"{label} p50", color=color)
            ax.scatter(xs, p99, marker="_", s=400, color="black", zorder=3,
                       label="p99" if key == "api" else None)
        for i, (_, v) in enumerate(routes):
            ratio = v["api"]["p50_ms"] / v["floor"]["p50_ms"]
            ax.annotate(f"{ratio:.2f}×", (i, max(v["api"]["p99_ms"], v["floor"]["p99_ms"])),
                        textcoords="offset points", xytext=(0, 6), ha="center")
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_ylabel("milliseconds")
        ax.set_title("Warm latency per route, one instance: the API against the floor (p50 ÷ floor above)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "benchmarks.png"), dpi=100)

    if "scale" in results:
        runs = results["scale"]["runs"]
        ks = sorted({run["instances"] for run in runs})
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        for endpoint, color in (("direct", "#c53030"), ("pooled", "#2b6cb0")):
            mine = {run["instances"]: run for run in runs if run["endpoint"] == endpoint}
            left.plot(ks, [mine[k]["requests_per_second"] for k in ks], marker="o", color=color, label=endpoint)
            right.plot(ks, [100 * (mine[k]["unavailable"] + mine[k]["other"]) / max(mine[k]["sent"], 1)
                            for k in ks], marker="o", color=color, label=endpoint)
        for ax, title in ((left, "requests/s answered 200"), (right, "% of requests not answered 200")):
            ax.set_xscale("log", base=2)
            ax.set_xticks(ks)
            ax.set_xticklabels([str(k) for k in ks])
            ax.set_xlabel("instances at once")
            ax.set_title(title)
            ax.legend()
        fig.suptitle(f"max_connections {results['scale']['max_connections']}: straight to PostgreSQL "
                     f"against PgBouncer (transaction mode, server pool {results['scale']['server_pool']})")
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "benchmarks-scale.png"), dpi=100)


if __name__ == "__main__":
    main()
