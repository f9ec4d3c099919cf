#!/usr/bin/env bash
# docker-compose.yml without a Docker engine: Debian's docker-compose must
# accept it with the .env.example values (and with no .env at all); every
# AAC_* variable it sets in any service must be one the service reads
# (`check-config --list-env`); the consumer's and the migrate service's
# environments, exactly as compose resolves them, must load
# (`check-config` exit 0) and give the values compose meant; .env.example
# must list every variable the file interpolates, with its default; the
# `monitoring` profile's Prometheus and Grafana mount the rules, the
# configuration, the provisioning and the dashboards they name, and the
# analytics data source logs in as the read-only role grafana-reader makes
# with the password both are given; the TLS
# overlay (docker-compose.tls.yml) merges, sets only variables the service
# reads, and with the files scripts/tls-certs.sh makes, mounted where it
# says, the consumer's and migrate's environments load, with verify-full
# and SASL_SSL, and the certificates name the hosts the services dial.
source "$(dirname "$0")/lib.sh"
command -v docker-compose >/dev/null || fail "docker-compose not installed (scripts/install-deps.sh)"
compose=$AAC_SRC/docker-compose.yml
envfile=$AAC_SRC/.env.example

# ---- (1) the file is valid, with the example values and with none ------------
docker-compose -f "$compose" --env-file "$envfile" config >"$TEST_DIR/config.yml" 2>"$TEST_DIR/config.err" ||
  fail "docker-compose config: $(cat "$TEST_DIR/config.err")"
: >"$TEST_DIR/empty.env"
docker-compose -f "$compose" --env-file "$TEST_DIR/empty.env" config >"$TEST_DIR/config-defaults.yml" 2>"$TEST_DIR/config.err" ||
  fail "docker-compose config without .env: $(cat "$TEST_DIR/config.err")"
grep -q 'WARNING' "$TEST_DIR/config.err" && fail "docker-compose warns: $(cat "$TEST_DIR/config.err")"
# the example file holds exactly the defaults
diff -u "$TEST_DIR/config-defaults.yml" "$TEST_DIR/config.yml" >"$TEST_DIR/defaults.diff" ||
  fail ".env.example differs from the defaults in docker-compose.yml: $(cat "$TEST_DIR/defaults.diff")"

# ---- (2) .env.example lists every interpolated variable --------------------------
grep -ohE '\$\{[A-Za-z_][A-Za-z0-9_]*' "$compose" "$AAC_SRC/docker-compose.tls.yml" | cut -c3- | sort -u >"$TEST_DIR/used"
grep -oE '^[A-Za-z_][A-Za-z0-9_]*=' "$envfile" | tr -d = | sort -u >"$TEST_DIR/listed"
missing=$(comm -23 "$TEST_DIR/used" "$TEST_DIR/listed")
[ -z "$missing" ] || fail ".env.example does not list: $missing"
extra=$(comm -13 "$TEST_DIR/used" "$TEST_DIR/listed")
[ -z "$extra" ] || fail ".env.example lists variables docker-compose.yml does not use: $extra"

# ---- (3) the services' environments, as compose resolved them --------------------
/usr/bin/python3 - "$TEST_DIR/config.yml" "$TEST_DIR" <<'PY' || fail "could not read the resolved compose file"
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
svc = cfg["services"]
for need in ("kafka", "postgres", "migrate", "topics", "consumer"):
    assert need in svc, f"service {need} missing"
for name, s in svc.items():
    env = s.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    with open(f"{sys.argv[2]}/env.{name}", "w") as f:
        for k, v in sorted(env.items()):
            f.write(f"{k}={'' if v is None else v}\n")
c = svc["consumer"]
deps = c["depends_on"]
assert deps["migrate"]["condition"] == "service_completed_successfully", deps
assert deps["topics"]["condition"] == "service_completed_successfully", deps
assert deps["kafka"]["condition"] == "service_healthy", deps
assert svc["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
assert svc["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
assert "healthcheck" in svc["kafka"] and "healthcheck" in svc["postgres"]
assert svc["migrate"]["command"] == ["migrate", "up"], svc["migrate"]["command"]
# every published port of the stack on loopback only ("127.0.0.1:8080:8080/tcp"
# from 1.29, {host_ip, published, target} from v2)
def port(p):
    if isinstance(p, dict):
        return p.get("host_ip", ""), str(p.get("target"))
    parts = str(p).split("/")[0].split(":")
    return (parts[0] if len(parts) == 3 else ""), parts[-1]
assert "8080" in [port(p)[1] for p in c["ports"]], c["ports"]
for name in ("consumer", "kafka", "postgres"):
    for p in svc[name].get("ports", []):
        assert port(p)[0] == "127.0.0.1", f"{name} publishes {p} beyond loopback"
# docker's init as PID 1: migrate has no SIGTERM handler of its own
for name in ("migrate", "consumer"):
    assert svc[name].get("init") is True, f"{name}: init: {svc[name].get('init')}"
assert c["restart"] == "unless-stopped", c.get("restart")
open(f"{sys.argv[2]}/grace", "w").write(str(c["stop_grace_period"]))
PY

# every AAC_* name any service sets is a setting of the service
"$AAC_BIN" check-config --list-env >"$TEST_DIR/known"
grep -q '^AAC_KAFKA_BOOTSTRAP_SERVERS$' "$TEST_DIR/known" || fail "--list-env: $(head "$TEST_DIR/known")"
known_re=$(sed -e 's/_<NAME>$/_[A-Z0-9_]+/' -e 's/^/^/' -e 's/$/$/' "$TEST_DIR/known" | paste -sd'|')
n=0
for f in "$TEST_DIR"/env.*; do
  while IFS= read -r var; do
    n=$((n + 1))
    grep -Eq "$known_re" <<<"$var" || fail "$(basename "$f" | cut -d. -f2) sets $var, which the service does not read"
  done < <(grep -o '^AAC_[A-Za-z0-9_]*' "$f" || true)
done
[ "$n" -ge 10 ] || fail "only $n AAC_* variables found"

# ---- (4) those environments load, and mean what compose meant --------------------
for svc in consumer migrate; do
  mapfile -t vars <"$TEST_DIR/env.$svc"
  # only compose's variables: nothing from this shell (PG*, AAC_*), no file
  out=$(env -i PATH="$PATH" "${vars[@]}" "$AAC_BIN" --config /dev/null check-config 2>&1) ||
    fail "$svc: check-config with the compose environment: $out"
  echo "$out" >"$TEST_DIR/effective.$svc"
done
eff=$TEST_DIR/effective.consumer
for kv in 'bootstrap_servers: "kafka:9092"' 'topic: "agent-actions"' 'dlq_topic: "agent-actions.dlq"' \
  'host: "postgres"' 'port: 5432' 'dbname: "agent_actions"' 'password: "\[redacted\]"' \
  'port: 8080' 'shutdown_timeout_ms: 10000' 'months_ahead: 3' 'client.id: "agent-actions-consumer"'; do
  grep -q "^ *$kv\$" "$eff" || fail "consumer configuration lacks '$kv': $(cat "$eff")"
done
# the topics service creates exactly the topic and dead-letter topic the consumer uses
assert_eq "$(grep '^TOPIC=' "$TEST_DIR/env.topics")" "TOPIC=agent-actions" "topics service's topic"

# ---- (5) stop_grace_period leaves the shutdown timeout room ---------------------
grace=$(cat "$TEST_DIR/grace")
grace_s=${grace%s}
shutdown_ms=$(sed -n 's/^ *shutdown_timeout_ms: //p' "$eff")
[[ $grace_s =~ ^[0-9]+$ ]] || fail "stop_grace_period '$grace' is not in seconds"
[ $((grace_s * 1000)) -gt "$shutdown_ms" ] ||
  fail "stop_grace_period $grace is not above service.shutdown_timeout_ms $shutdown_ms"

# ---- (6) a typo in an AAC_ name is caught by this test's own check ----------------
grep -Eq "$known_re" <<<"AAC_KAFKA_TOPICS" && fail "the name check accepts AAC_KAFKA_TOPICS"
# ---- (7) the monitoring profile: Prometheus and Grafana, wired to the files --------
/usr/bin/python3 - "$TEST_DIR/config.yml" "$AAC_SRC" <<'PY' || fail "monitoring profile"
import json, os, sys, yaml
cfg, src = yaml.safe_load(open(sys.argv[1])), sys.argv[2]
svc = cfg["services"]
def check(ok, msg):
    if not ok:
        print(f"monitoring: {msg}", file=sys.stderr)
        sys.exit(1)
for name in ("prometheus", "grafana", "grafana-reader"):
    check(svc[name].get("profiles") == ["monitoring"], f"{name} profiles: {svc[name].get('profiles')}")
    check(all(p.startswith("127.0.0.1:") for p in svc[name].get("ports", [])), f"{name} ports: {svc[name].get('ports')}")
for name in ("kafka", "postgres", "migrate", "topics", "consumer"):
    check("profiles" not in svc[name], f"{name} must start without a profile")
def mounts(name):  # container path -> host path, for the bind mounts
    out = {}
    for v in svc[name]["volumes"]:
        host, target = v.split(":")[:2]
        out[target] = host
    return out
# Prometheus: its configuration and both rule files, as mounted
pm = mounts("prometheus")
check(pm.get("/etc/prometheus") == os.path.join(src, "config/prometheus"), f"prometheus mounts {pm}")
check("--config.file=/etc/prometheus/prometheus.yml" in svc["prometheus"]["command"], "prometheus --config.file")
pcfg = yaml.safe_load(open(os.path.join(src, "config/prometheus/prometheus.yml")))
check(sorted(pcfg["rule_files"]) == ["alerts.yml", "recording.yml"], f"rule_files {pcfg['rule_files']}")
jobs = {j["job_name"]: j for j in pcfg["scrape_configs"]}
check("agent-actions-consumer" in jobs, "scrape job agent-actions-consumer (the alerts select on it)")
targets = [t for sc in jobs["agent-actions-consumer"]["static_configs"] for t in sc["targets"]]
check(targets == ["consumer:8080"], f"scrape targets {targets}")
env = svc["consumer"]["environment"]
check(str(env["AAC_HTTP_PORT"]) == "8080", "the consumer's HTTP port is the scraped one")
# Grafana: the data source is the prometheus service, the provider's path the
# mounted dashboards, and the home dashboard one of them
gm = mounts("grafana")
check(gm.get("/etc/grafana/provisioning") == os.path.join(src, "config/grafana/provisioning"), f"grafana mounts {gm}")
prov = os.path.join(src, "config/grafana/provisioning")
ds = yaml.safe_load(open(os.path.join(prov, "datasources/prometheus.yml")))["datasources"]
check([d["url"] for d in ds] == ["http://prometheus:9090"], f"data sources {ds}")
provider = yaml.safe_load(open(os.path.join(prov, "dashboards/agent-actions-consumer.yml")))["providers"][0]
dash_dir = provider["options"]["path"]
check(gm.get(dash_dir) == os.path.join(src, "config/grafana/dashboards"), f"dashboards {dash_dir} not mounted: {gm}")
home = svc["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
check(os.path.dirname(home) == dash_dir, f"home dashboard {home}")
dash = json.load(open(os.path.join(gm[dash_dir], os.path.basename(home))))
check(dash["uid"] == "agent-actions-consumer", f"home dashboard uid {dash.get('uid')}")
for v in ("prometheus-data", "grafana-data"):
    check(v in cfg["volumes"], f"volume {v}")
# The analytics dashboard's PostgreSQL data source: the postgres service's
# database, as the read-only role that grafana-reader makes, with the
# password both are given; grafana-reader runs the mounted SQL file as the
# database's owner once the migrations are in, and Grafana waits for it
pds = yaml.safe_load(open(os.path.join(prov, "datasources/postgres.yml")))["datasources"]
check(len(pds) == 1, f"postgres data sources {pds}")
pg, ge = pds[0], svc["grafana"]["environment"]
check(pg["type"] == "grafana-postgresql-datasource" and pg["url"] == "postgres:5432", f"data source {pg}")
def env_of(value):  # Grafana's provisioning reads $NAME from its environment
    check(isinstance(value, str) and value.startswith("$") and value[1:] in ge, f"{value} is not in grafana's environment")
    return str(ge[value[1:]])
pe, re_ = svc["postgres"]["environment"], svc["grafana-reader"]["environment"]
check(env_of(pg["jsonData"]["database"]) == str(pe["POSTGRES_DB"]), "data source database")
check(env_of(pg["user"]) == str(re_["GRAFANA_PG_USER"]), "data source user is the reader's role")
check(env_of(pg["secureJsonData"]["password"]) == str(re_["GRAFANA_PG_PASSWORD"]), "data source password")
check(str(re_["GRAFANA_PG_USER"]) != str(pe["POSTGRES_USER"]), "the data source must not log in as the owner")
check((re_["PGHOST"], str(re_["PGDATABASE"]), str(re_["PGUSER"]), str(re_["PGPASSWORD"])) ==
      ("postgres", str(pe["POSTGRES_DB"]), str(pe["POSTGRES_USER"]), str(pe["POSTGRES_PASSWORD"])),
      f"grafana-reader connects as the owner: {re_}")
rm = mounts("grafana-reader")
script = svc["grafana-reader"]["command"][-1]
check(rm.get(script) == os.path.join(src, "config/grafana/grafana-reader.sql") and os.path.exists(rm[script]),
      f"grafana-reader runs {script}, mounted from {rm}")
check(svc["grafana-reader"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", "grafana-reader waits for migrate")
check(svc["grafana"]["depends_on"]["grafana-reader"]["condition"] == "service_completed_successfully", "grafana waits for grafana-reader")
# both dashboards in the provisioned directory, each on a provisioned type
types = {d["type"] for d in ds + pds}
for f, want in (("agent-actions-consumer.json", "prometheus"), ("agent-actions-analytics.json", "grafana-postgresql-datasource")):
    d = json.load(open(os.path.join(gm[dash_dir], f)))
    var = [v for v in d["templating"]["list"] if v["type"] == "datasource"]
    check(len(var) == 1 and var[0]["query"] == want and want in types, f"{f}: data source variable {var}")
PY
# ---- (8) the TLS overlay -----------------------------------------------------------
tls=$AAC_SRC/docker-compose.tls.yml
docker-compose -f "$compose" -f "$tls" --env-file "$envfile" config >"$TEST_DIR/tls.yml" 2>"$TEST_DIR/tls.err" ||
  fail "docker-compose config with the TLS overlay: $(cat "$TEST_DIR/tls.err")"
grep -q 'WARNING' "$TEST_DIR/tls.err" && fail "docker-compose warns on the TLS overlay: $(cat "$TEST_DIR/tls.err")"
bash "$AAC_SRC/scripts/tls-certs.sh" "$TEST_DIR/tls" >/dev/null || fail "scripts/tls-certs.sh"
# each service's environment with /run/secrets/NAME pointing at what the
# overlay mounts there (its tls/ files replaced by the ones just made)
/usr/bin/python3 - "$TEST_DIR/tls.yml" "$AAC_SRC" "$TEST_DIR" <<'PY' || fail "TLS overlay"
import os, sys, yaml
cfg, src, out = yaml.safe_load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
svc, secrets = cfg["services"], cfg["secrets"]
def check(ok, msg):
    if not ok:
        print(f"TLS overlay: {msg}", file=sys.stderr)
        sys.exit(1)
def made(path):  # a file of the overlay's tls/, as made in the test's directory
    check(path.startswith(os.path.join(src, "tls") + "/"), f"{path} is not under tls/")
    p = os.path.join(out, "tls", os.path.relpath(path, os.path.join(src, "tls")))
    check(os.path.exists(p), f"scripts/tls-certs.sh does not make {os.path.relpath(path, src)}")
    return p
for name in ("consumer", "migrate", "postgres", "kafka-user", "grafana-reader"):
    s = svc[name]
    run = os.path.join(out, f"run-secrets.{name}")
    os.makedirs(run, exist_ok=True)
    mounted = set()
    for sec in s.get("secrets", []):
        source = sec["source"] if isinstance(sec, dict) else sec
        target = (sec.get("target") if isinstance(sec, dict) else None) or source
        link = os.path.join(run, target)
        if not os.path.lexists(link):
            os.symlink(made(secrets[source]["file"]), link)
        mounted.add(f"/run/secrets/{target}")
    env = s.get("environment") or {}
    text = " ".join(str(v) for v in env.values()) + " " + " ".join(map(str, s.get("command") or []))
    for word in text.replace("$(cat ", " ").replace(")", " ").split():
        if word.startswith("/run/secrets/"):
            check(word in mounted, f"{name} reads {word}, which it does not mount")
    with open(os.path.join(out, f"env-tls.{name}"), "w") as f:
        for k, v in sorted(env.items()):
            v = "" if v is None else str(v)
            f.write(f"{k}={v.replace('/run/secrets/', run + '/')}\n")
# Kafka: what the image reads from /etc/kafka/secrets is in tls/kafka/
k = svc["kafka"]
host = {v.split(":")[1]: v.split(":")[0] for v in k["volumes"] if ":" in v}
check(host.get("/etc/kafka/secrets") == os.path.join(src, "tls/kafka"), f"kafka mounts {host}")
ke = k["environment"]
for var in ("KAFKA_SSL_KEYSTORE_FILENAME", "KAFKA_SSL_KEYSTORE_CREDENTIALS", "KAFKA_SSL_KEY_CREDENTIALS"):
    made(os.path.join(src, "tls/kafka", ke[var]))
jaas = ke["KAFKA_OPTS"].split("java.security.auth.login.config=")[1].split()[0]
check(jaas.startswith("/etc/kafka/secrets/"), f"JAAS file {jaas}")
made(os.path.join(src, "tls/kafka", os.path.basename(jaas)))
check("SASL_SSL://kafka:9095" in ke["KAFKA_ADVERTISED_LISTENERS"], ke["KAFKA_ADVERTISED_LISTENERS"])
check(svc["consumer"]["depends_on"]["kafka-user"]["condition"] == "service_completed_successfully", "consumer waits for kafka-user")
# grafana-reader: the owner's password from the file, not the .env one
gr = svc["grafana-reader"]
check(gr["environment"]["PGPASSWORD"] == "" and "/run/secrets/pg-password" in " ".join(gr["command"]), f"TLS overlay: grafana-reader {gr}")
check(gr["environment"]["PGSSLMODE"] == "verify-full", "TLS overlay: grafana-reader sslmode")
PY
n_tls=0
for f in "$TEST_DIR"/env-tls.*; do
  while IFS= read -r var; do
    n_tls=$((n_tls + 1))
    grep -Eq "$known_re" <<<"$var" || fail "TLS overlay: $(basename "$f" | cut -d. -f2) sets $var, which the service does not read"
  done < <(grep -o '^AAC_[A-Za-z0-9_]*' "$f" || true)
done
for svc in consumer migrate; do
  mapfile -t vars <"$TEST_DIR/env-tls.$svc"
  out=$(env -i PATH="$PATH" "${vars[@]}" "$AAC_BIN" --config /dev/null check-config 2>&1) ||
    fail "TLS overlay: $svc: check-config: $out"
  echo "$out" >"$TEST_DIR/effective-tls.$svc"
  for kv in 'sslmode: "verify-full"' 'password: ""' "password_file: \"$TEST_DIR/run-secrets.$svc/pg-password\"" \
    "sslrootcert: \"$TEST_DIR/run-secrets.$svc/ca.crt\"" 'host: "postgres"'; do
    grep -qF "  $kv" "$TEST_DIR/effective-tls.$svc" || fail "TLS overlay: $svc lacks '$kv': $out"
  done
done
eff=$TEST_DIR/effective-tls.consumer
for kv in 'bootstrap_servers: "kafka:9095"' 'security.protocol: "sasl_ssl"' 'sasl.mechanisms: "SCRAM-SHA-512"' \
  "sasl.password_file: \"$TEST_DIR/run-secrets.consumer/kafka-password\""; do
  grep -qF "$kv" "$eff" || fail "TLS overlay: the consumer lacks '$kv': $(cat "$eff")"
done
grep -qF "$(cat "$TEST_DIR/tls/kafka-password")" "$eff" && fail "check-config shows the Kafka password"
# the certificates verify against the CA, for the names the consumer dials
for c in postgres kafka; do
  openssl verify -CAfile "$TEST_DIR/tls/ca.crt" "$TEST_DIR/tls/$c.crt" >/dev/null 2>&1 || fail "$c.crt does not verify"
  openssl x509 -in "$TEST_DIR/tls/$c.crt" -noout -ext subjectAltName | grep -q "DNS:$c\b" || fail "$c.crt does not name $c"
done
openssl pkcs12 -in "$TEST_DIR/tls/kafka/kafka.p12" -passin "file:$TEST_DIR/tls/kafka/kafka.p12.password" -nokeys 2>/dev/null |
  openssl x509 -noout -subject | grep -q 'CN *= *kafka' || fail "kafka.p12 does not open with its password"
pass "config valid, $n AAC_* variables known, consumer and migrate environments load, monitoring profile wired, TLS overlay ($n_tls variables) loads with verify-full and SASL_SSL"
