#!/usr/bin/env python3
"""Turns a compare.sh run (DIR/raw.jsonl, DIR/conditions.json) into DIR/results.json,
DIR/results.md and DIR/latency.png (gnuplot). Standard library only."""
import json
import os
import subprocess
import sys

# A process above this share of one core is taken as saturated.
SATURATED = 90.0
# Run-queue wait above this share of the interval: something else ran on that core.
NOISY = 5.0

NAMES = {
    "parley-AES-256-GCM": "Parley AES-256-GCM",
    "parley-AES-256-GCM+tls": "Parley AES-256-GCM over TLS",
    "parley-CHACHA20-POLY1305": "Parley ChaCha20-Poly1305",
    "parley-IDEA-CTR-HMAC-SHA256": "Parley IDEA-CTR-HMAC",
    "mosquitto": "mosquitto (MQTT 3.1.1, QoS 0)",
    "nats-server": "nats-server (core NATS)",
    "ngircd": "ngIRCd (IRC)",
}
PARLEY = "parley-AES-256-GCM"



def pair_rounds(handshakes, signs):
    """(handshake run, sign-rate run) pairs: by round number, or the last of each (older files)."""
    by_round = {r["round"]: r for r in signs if "round" in r}
    pairs = []
    for h in handshakes:
        label = h.get("label", "")
        if label.startswith("handshake-") and int(label.split("-")[1]) in by_round:
            pairs.append((h, by_round[int(label.split("-")[1])]))
    if not pairs and handshakes and signs:
        pairs.append((handshakes[-1], signs[-1]))
    return pairs

def load(out):
    runs = []
    with open(os.path.join(out, "raw.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    conditions = {}
    path = os.path.join(out, "conditions.json")
    if os.path.exists(path):
        conditions = json.load(open(path))
    return runs, conditions


def limit_of(phase):
    server = phase.get("server", {}).get("cpu_pct", 0)
    gen = phase.get("generator", {}).get("cpu_pct", 0)
    if server >= SATURATED and gen >= SATURATED:
        return "server+generator"
    if server >= SATURATED:
        return "server"
    if gen >= SATURATED:
        return "generator"
    return "latency (window)"


def noisy(phase):
    # Other processes' share of the two cores (/proc/stat busy time less our own CPU time).
    # Older results only have the run-queue wait, which also counts waits among a process's
    # own threads (Botan signs on a worker thread), so it is the fallback only.
    key = "core_other_pct" if "core_other_pct" in phase.get("server", {}) else "runqueue_wait_pct"
    waits = [phase.get("server", {}).get(key, 0), phase.get("generator", {}).get(key, 0)]
    return max(waits) > NOISY


def fmt(x, digits=0):
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def ratio(x, base):
    if not x or not base:
        return "-"
    return f"{x / base:.2f}x"


def main(out):
    runs, cond = load(out)
    fanouts = [r for r in runs if r.get("scenario") == "fanout"]
    idles = [r for r in runs if r.get("scenario") == "idle"]
    handshakes = [r for r in runs if r.get("scenario") == "handshake"]
    signs = [r for r in runs if r.get("scenario") == "sign-rate"]

    summary = {"conditions": cond, "fanout": {}, "idle": {}, "handshake": None, "targets": {}}
    md = []
    md.append("# Parley side by side: results\n")
    md.append(
        f"Mode **{cond.get('mode', '?')}**, {cond.get('cpus', '?')} CPUs ({cond.get('cpu_model', '?')}), "
        f"kernel {cond.get('kernel', '?')}, load average before the run {' '.join(cond.get('loadavg_before', []))}. "
        f"Servers pinned to CPU {cond.get('server_cpu', '?')}, the load generator to CPU {cond.get('generator_cpu', '?')}. "
        f"Peers: mosquitto {cond.get('versions', {}).get('mosquitto', '?')}, "
        f"nats-server {cond.get('versions', {}).get('nats-server', '?')}, "
        f"ngIRCd {cond.get('versions', {}).get('ngircd', '?')}; Botan {cond.get('versions', {}).get('botan', '?')}; "
        f"parley {cond.get('git', '?')}.\n")
    if cond.get("note"):
        md.append(f"**Note.** {cond['note']}\n")
    md.append(
        "*limit*: which side used at least 90% of its core (server, generator, both), or "
        "\"latency (window)\" when neither did and the credit window bounded the rate. "
        "*noisy*: other processes used more than 5% of the server's or the generator's core "
        "during the interval (the core's busy time in /proc/stat less the process's own CPU "
        "time): treat that row with care.\n")

    # Fan-out: one table per shape, from the closed-loop (window) phase.
    shapes = []
    for r in fanouts:
        label = r.get("label", "fanout")
        if label not in shapes:
            shapes.append(label)
    for label in shapes:
        rows = [r for r in fanouts if r.get("label", "fanout") == label]
        base = None
        for r in rows:
            if r["system"] == PARLEY and r.get("phases"):
                base = r["phases"][0]
        p = rows[0]["params"]
        md.append(f"## Fan-out `{label}`: {p['clients']} clients in {p['rooms']} rooms, "
                  f"{p['publishers']} publishers, {p['size']}-byte messages, window {p['window']}\n")
        md.append("Closed loop (each publisher keeps at most `window` messages undelivered to some "
                  f"member), {p['duration_s']} s measured after {p['warmup_s']} s of warm-up. "
                  "Latency is from the publisher's send to each member's receipt.\n")
        md.append("| system | delivered msgs/s | vs Parley AES | p50 ms | p99 ms | p99.9 ms | server CPU % | "
                  "server RSS MiB | generator CPU % | losses | limit |")
        md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        table = []
        for r in rows:
            if not r.get("phases"):
                md.append(f"| {NAMES.get(r['system'], r['system'])} | failed: {r.get('error', '?')} |"
                          " | | | | | | | | |")
                continue
            ph = r["phases"][0]
            lat = ph["latency_us"]
            srv = ph.get("server", {})
            gen = ph.get("generator", {})
            lim = limit_of(ph) + (" (noisy)" if noisy(ph) else "")
            err = f" ({r['error']})" if r.get("error") else ""
            md.append(
                f"| {NAMES.get(r['system'], r['system'])} | {fmt(ph['delivered_per_s'])} | "
                f"{ratio(ph['delivered_per_s'], base and base['delivered_per_s'])} | "
                f"{fmt(lat['p50'] / 1000, 2)} | {fmt(lat['p99'] / 1000, 2)} | {fmt(lat['p999'] / 1000, 2)} | "
                f"{fmt(srv.get('cpu_pct'))} | {fmt(srv.get('rss_kib', 0) / 1024, 1)} | {fmt(gen.get('cpu_pct'))} | "
                f"{r.get('losses', '-')}{err} | {lim} |")
            table.append({
                "system": r["system"], "delivered_per_s": ph["delivered_per_s"],
                "ratio_to_parley": (ph["delivered_per_s"] / base["delivered_per_s"]) if base else None,
                "latency_us": lat, "server": srv, "generator": gen, "losses": r.get("losses"),
                "limit": limit_of(ph), "noisy": noisy(ph),
                "paced": [{"offered_delivered_per_s": q.get("offered_delivered_per_s"),
                           "delivered_per_s": q["delivered_per_s"], "latency_us": q["latency_us"],
                           "server_cpu_pct": q.get("server", {}).get("cpu_pct"),
                           "generator_cpu_pct": q.get("generator", {}).get("cpu_pct"),
                           "blocked": q.get("blocked")} for q in r["phases"][1:]],
            })
        summary["fanout"][label] = table
        md.append("")

        # Paced phases, compactly.
        md.append(f"Paced load (`{label}`): offered deliveries/s → p99 latency ms (delivered/s where "
                  "it fell short of the offer by more than 2%):\n")
        for t in table:
            cells = []
            for q in t["paced"]:
                offered = q["offered_delivered_per_s"] or 0
                cell = f"{fmt(offered / 1000)}k → {fmt(q['latency_us']['p99'] / 1000, 2)}"
                if q["delivered_per_s"] < 0.98 * offered:
                    cell += f" ({fmt(q['delivered_per_s'] / 1000)}k)"
                cells.append(cell)
            md.append(f"- {NAMES.get(t['system'], t['system'])}: " + "; ".join(cells))
        md.append("")

    # Idle.
    if idles:
        base = None
        for r in idles:
            if r["system"] == PARLEY and "server" in r:
                base = r["server"]["rss_per_session_kib"]
        md.append(f"## Idle sessions\n")
        md.append("Server RSS after N established sessions (each in one room) and a 3 s pause, minus "
                  "its RSS before the first connection, over N.\n")
        md.append("| system | sessions | RSS before MiB | RSS after MiB | KiB per session | vs Parley | connect s |")
        md.append("|---|---:|---:|---:|---:|---:|---:|")
        for r in idles:
            name = NAMES.get(r["system"], r["system"])
            if r["system"] == PARLEY:
                name = "Parley"
            s = r.get("server")
            if not s:
                md.append(f"| {name} | failed: {r.get('error', '?')} | | | | | |")
                continue
            md.append(f"| {name} | {r.get('ready', '-')} | {fmt(s['rss_before_kib'] / 1024, 1)} | "
                      f"{fmt(s['rss_after_kib'] / 1024, 1)} | {fmt(s['rss_per_session_kib'], 2)} | "
                      f"{ratio(s['rss_per_session_kib'], base)} | {fmt(r.get('connect_s'), 1)} |")
            summary["idle"][r["system"]] = {"sessions": r.get("ready"), **s,
                                            "ratio_to_parley": (s["rss_per_session_kib"] / base) if base else None}
        md.append("")

    # Handshakes: rounds of (sign rate, handshakes) measured back to back; the median round counts.
    rounds = pair_rounds(handshakes, signs)
    if rounds:
        h0 = rounds[0][0]
        md.append("## Handshakes\n")
        md.append(f"{h0['params']['concurrency']} concurrent clients in a loop of connect, handshake (to the "
                  "welcome), close record, close; RSA-2048 transport keys from the generator's pool "
                  "(bench-only shortcut). Sign rate: Botan `PK_Signer` "
                  "EMSA4(SHA-256,MGF1,32) with the server's own identity key, on the server's core with "
                  "the server stopped, median of repeated 1 s runs. Each round measures the sign rate "
                  "and then the handshakes, back to back; the target uses the median round.\n")
        md.append("| round | handshakes/s | p50 ms | p99 ms | server CPU % | generator CPU % | failures | "
                  "sign rate /s (key bits) | handshakes / sign rate | limit |")
        md.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for i, (h, sign) in enumerate(rounds, 1):
            rate = sign["median_per_s"]
            lim = limit_of(h).replace("latency (window)", "concurrency") + (" (noisy)" if noisy(h) else "")
            md.append(f"| {i} | {fmt(h['handshakes_per_s'])} | {fmt(h['latency_ms']['p50'], 1)} | "
                      f"{fmt(h['latency_ms']['p99'], 1)} | {fmt(h.get('server', {}).get('cpu_pct'))} | "
                      f"{fmt(h.get('generator', {}).get('cpu_pct'))} | {h.get('failures')} | "
                      f"{fmt(rate)} ({sign['key_bits']}) | {(h['handshakes_per_s'] / rate * 100):.0f}% | {lim} |")
        shares = sorted(h["handshakes_per_s"] / sign["median_per_s"] for h, sign in rounds)
        summary["handshake"] = {"rounds": [{"result": h, "sign_rate": sign} for h, sign in rounds],
                                "median_share": shares[len(shares) // 2],
                                "key_bits": rounds[0][1]["key_bits"]}
        md.append("")
    tls_rounds = [h for h in handshakes if h.get("label", "").startswith("tls-handshake-")]
    if tls_rounds:
        md.append("Over TLS (the same server behind a TLS listener, each round right after the plain "
                  "one; TLS 1.3 with a P-256 certificate, no resumption):\n")
        md.append("| round | handshakes/s | p50 ms | p99 ms | server CPU % | vs plain, same round |")
        md.append("|---:|---:|---:|---:|---:|---:|")
        plain = {h.get("label"): h for h in handshakes}
        for h in tls_rounds:
            n = h["label"].split("-")[-1]
            p = plain.get(f"handshake-{n}")
            md.append(f"| {n} | {fmt(h['handshakes_per_s'])} | {fmt(h['latency_ms']['p50'], 1)} | "
                      f"{fmt(h['latency_ms']['p99'], 1)} | {fmt(h.get('server', {}).get('cpu_pct'))} | "
                      f"{ratio(h['handshakes_per_s'], p['handshakes_per_s'] if p else None)} |")
        md.append("")

    # Targets.
    md.append("## Targets (issue: measured, not asserted)\n")
    targets = summary["targets"]
    chat = summary["fanout"].get("chat", [])
    by = {t["system"]: t for t in chat}
    mq = by.get("mosquitto")
    for suite in ("parley-AES-256-GCM", "parley-CHACHA20-POLY1305", "parley-IDEA-CTR-HMAC-SHA256"):
        if suite in by and mq:
            r = by[suite]["delivered_per_s"] / mq["delivered_per_s"]
            ok = r >= 2.0
            targets[f"{suite} >= 2x mosquitto"] = {"ratio": r, "met": ok}
            md.append(f"- {NAMES[suite]} delivers **{r:.2f}x** mosquitto's messages/s (target 2x): "
                      f"**{'met' if ok else 'missed'}**.")
    if PARLEY in by and "nats-server" in by:
        r = by[PARLEY]["delivered_per_s"] / by["nats-server"]["delivered_per_s"]
        targets["parley / nats-server"] = {"ratio": r}
        md.append(f"- Parley AES-256-GCM delivers **{r:.2f}x** nats-server's messages/s (reported, no target).")
    pi = [v for k, v in summary["idle"].items() if k == PARLEY]
    if pi:
        kib = pi[0]["rss_per_session_kib"]
        ok = kib <= 8.0 and (pi[0]["sessions"] or 0) >= 10000
        targets["idle rss per session <= 8 KiB at 10000"] = {"kib": kib, "sessions": pi[0]["sessions"], "met": ok}
        md.append(f"- {pi[0]['sessions']} idle Parley sessions cost **{kib:.2f} KiB** of server RSS each "
                  f"(target at most 8 KiB at 10,000): **{'met' if ok else 'missed'}**.")
    if summary["handshake"]:
        share = summary["handshake"]["median_share"]
        n = len(summary["handshake"]["rounds"])
        ok = share >= 0.85
        targets["handshakes >= 85% of sign rate"] = {"share": share, "rounds": n, "met": ok}
        md.append(f"- Handshakes reach **{share * 100:.1f}%** of the raw RSA-{summary['handshake']['key_bits']} "
                  f"PSS sign rate, median of {n} round(s) (target 85%): **{'met' if ok else 'missed'}**.")
    md.append("")

    # Plot: p99 against offered load, chat shape.
    plot = os.path.join(out, "latency.png")
    if chat:
        data = os.path.join(out, "latency.dat")
        with open(data, "w") as f:
            for t in chat:
                f.write(f"# {t['system']}\n")
                for q in t["paced"]:
                    if q["offered_delivered_per_s"]:
                        f.write(f"{q['offered_delivered_per_s']} {q['latency_us']['p99'] / 1000} "
                                f"{q['delivered_per_s']}\n")
                f.write("\n\n")
        plots = []
        for i, t in enumerate(chat):
            plots.append(f"'{data}' index {i} using 1:2 with linespoints title '{NAMES.get(t['system'], t['system'])}'")
        p = next((r["params"] for r in fanouts if r.get("label") == "chat"), {})
        script = f"""
set terminal pngcairo size 1000,650 font ',10'
set output '{plot}'
set title 'p99 delivery latency against offered load ({p.get("clients")} clients, {p.get("rooms")} rooms, {p.get("publishers")} publishers, {p.get("size")} B)'
set xlabel 'offered load, deliveries per second'
set ylabel 'p99 latency, ms'
set logscale xy
set grid
set key top left
plot {", ".join(plots)}
"""
        try:
            subprocess.run(["gnuplot"], input=script, text=True, check=True)
            md.append("![p99 latency against offered load](latency.png)\n")
        except (OSError, subprocess.CalledProcessError) as e:
            md.append(f"(no plot: gnuplot failed: {e})\n")

    md.append("Raw data: `raw.jsonl` (one object per run), summary: `results.json`.\n")
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("\n".join(md))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
