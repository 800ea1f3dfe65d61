#!/usr/bin/env python3
"""Where the app's CPU time goes, from `perf script -F ip,sym` on standard input.

`BENCH_PROFILE=1 bash bench/run.sh` records the app under each page's load and pipes the samples
here: `python3 bench/profile.py [PAGE]` prints one table, titled with PAGE (default /dashboard).
"""
import collections
import re
import sys

# First match wins, over the whole stack: a bucket claims every sample with one of its frames
# anywhere in the stack, so an allocation or a syscall is charged to the work that asked for it.
# The order matters: Tera and serde frames run inside the handler, the handler inside actix-http,
# everything inside the tokio event loop.
BUCKETS = [
    ("HTML: Tera renders the page", r"tera::tera::Tera::render|tera::vm::|Templates::page"),
    ("template context built (serialized into tera::Value)",
     r"tera::context::Context::insert|Context::from_serialize|tera::value::ser"),
    ("JSON: API responses parsed (serde_json)", r"serde_json::de|Deserialize|from_slice"),
    ("HTTP client: the upstream calls (reqwest, hyper)", r"reqwest::|hyper::|hyper_util::|http_client::|ApiClient::"),
    ("tokens: store lookup", r"auth::tokens::"),
    ("cache: kept account and integrations (and the bookkeeping of the calls it wraps)",
     r"rememberizer::cache::"),
    ("session: cookie and store",
     r"actix_session::storage|actix_session::session::|session_store::|moka::|cookie::"),
    ("handler: the page's own code (view rows, joins)", r"talk_to_mementos::routes::"),
    ("logs and request id", r"tracing_subscriber|tracing_core::dispatch|uuid::"),
    ("HTTP server: actix-http parses and writes", r"actix_http::|actix_server::|actix_web::"),
    ("event loop (tokio, mio, kernel)", r"tokio::|mio::"),
]
COMPILED = [(name, re.compile(pattern)) for name, pattern in BUCKETS]
# A sample whose innermost frame is the allocator's, whoever asked for the memory.
ALLOCATOR = re.compile(r"\s(_?mi_\w+|malloc|free|cfree\S*|_int_malloc|_int_free|realloc|malloc_consolidate)(\s|\+|$)")


def without_generics(frame):
    """`poll<talk_to_mementos::session_store::…>` is a frame of `poll`, not of the session store;
    `<tera::value::ser::Serializer as serde::Serializer>::serialize_str` is one of tera's."""
    if frame.startswith("<"):
        depth = 0
        for end, char in enumerate(frame):
            depth += {"<": 1, ">": -1}.get(char, 0)
            if depth == 0:
                return without_generics(frame[1:end]) + without_generics(frame[end + 1:])
    out, depth = [], 0
    for char in frame:
        if char == "<":
            depth += 1
        elif char == ">" and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def bucket(stack):
    stack = [without_generics(frame) for frame in stack]
    for name, pattern in COMPILED:
        if any(pattern.search(frame) for frame in stack):
            return name
    return "other (allocator, kernel, threads without a caller above)"


def samples(lines):
    stack = []
    for line in lines:
        if line.startswith((" ", "\t")) and line.strip():
            stack.append(line.strip())
        elif stack:
            yield stack
            stack = []
    if stack:
        yield stack


def main():
    counts, in_allocator = collections.Counter(), 0
    for stack in samples(sys.stdin):
        counts[bucket(stack)] += 1
        in_allocator += bool(ALLOCATOR.search(stack[0]))
    total = sum(counts.values())
    if total == 0:
        sys.exit("profile: no samples (is perf allowed? see /proc/sys/kernel/perf_event_paranoid)")
    page = sys.argv[1] if len(sys.argv) > 1 else "/dashboard"
    print(f"| where the app's CPU time goes under {page} load ({total} samples) | share |")
    print("|---|---|")
    for name, count in counts.most_common():
        print(f"| {name} | {100 * count / total:.1f}% |")
    print(f"| *across all of the above: inside the allocator (malloc/free)* | *{100 * in_allocator / total:.1f}%* |")


if __name__ == "__main__":
    main()
