#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft: broker and controller in one JVM) on 127.0.0.1, for local runs and tests.
#
#   deploy/local/kafka.sh start [STATE_DIR]   resolve jars (cached), format storage, start, wait; prints the bootstrap address.
#                                             A STATE_DIR that holds a stopped broker is started again on its data and
#                                             ports: topics, events, holds and offsets are kept, the address is the same.
#   deploy/local/kafka.sh stop  [STATE_DIR]   stop cleanly (SIGTERM, then SIGKILL after 30 s); the data stays
#   deploy/local/kafka.sh reset [STATE_DIR]   stop, then delete the data: the next start is a fresh broker
#   deploy/local/kafka.sh status [STATE_DIR]  prints the bootstrap address if running, exits 1 otherwise
#   deploy/local/kafka.sh start-scram [STATE_DIR]
#       the same broker with authentication and authorisation, on its own ports (STATE_DIR defaults to
#       .local/kafka-scram, so it runs beside the PLAINTEXT one): one SASL_PLAINTEXT listener taking SCRAM-SHA-512,
#       ACLs enforced by the StandardAuthorizer with allow.everyone.if.no.acl.found=false. The SCRAM users "admin"
#       (a super user, for creating users, topics and ACLs) and "broker" (inter-broker) are made at format time
#       with random passwords; the controller listener takes PLAIN (SCRAM credentials live in the metadata log the
#       controller serves, so it cannot use them) with a user of its own. STATE_DIR/admin.env (mode 0600) holds the
#       PLATESTREAM_KAFKA_* settings of the admin user, STATE_DIR/admin.properties the same for Java tools.
#
# STATE_DIR defaults to .local/kafka under the repo. Jars come from Maven Central through deploy/local/pom.xml
# and are cached in deploy/local/target/kafka-libs. Needs Java 17+ and Maven.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cmd=${1:-}
default_state=$repo/.local/kafka
[ "$cmd" = start-scram ] && default_state=$repo/.local/kafka-scram
state=${2:-${PLATESTREAM_KAFKA_STATE:-$default_state}}
libs="$here/target/kafka-libs"
jvm=(-Xms256m -Xmx768m -XX:+UseG1GC -Dkafka.logs.dir="$state" -Dlog4j2.configurationFile="$state/log4j2.properties")

die() { echo "kafka.sh: $*" >&2; exit 1; }

need_tools() {
  command -v java >/dev/null || die "java not found: install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
  command -v mvn >/dev/null || die "mvn not found: install Apache Maven (Debian: apt-get install maven)"
  local major
  major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  [ "${major:-0}" -ge 17 ] || die "Kafka 4 needs Java 17 or newer; found Java ${major:-unknown}"
}

resolve_jars() {
  if [ ! -f "$libs/.complete" ]; then
    echo "kafka.sh: resolving broker jars with Maven (once; cached in $libs)" >&2
    rm -rf "$libs"
    mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$libs" >&2 \
      || die "mvn could not resolve org.apache.kafka:kafka_2.13 (is Maven Central reachable?)"
    touch "$libs/.complete"
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

running() { [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; }

secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }

# The listener lines of server.properties: PLAINTEXT everywhere, or (scram=1) SCRAM on the client listener,
# PLAIN on the controller's, and the authorizer. Passwords are drawn by start(); only the storage format step sees
# them on its command line (--add-scram takes no file), and the state directory is the owner's alone.
listener_props() {
  if [ "$scram" = 0 ]; then
    cat <<PROPS
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
PROPS
    return
  fi
  cat <<PROPS
listeners=SASL_PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$broker_pw";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="$controller_pw" user_controller="$controller_pw";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:controller;User:broker;User:admin
PROPS
}

# The admin user's client settings, readable by the owner only: for platestream (admin.env) and Java tools.
write_admin_files() {
  (
    umask 077
    cat > "$state/admin.env" <<ENV
PLATESTREAM_KAFKA_BOOTSTRAP=127.0.0.1:$port
PLATESTREAM_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT
PLATESTREAM_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
PLATESTREAM_KAFKA_SASL_USERNAME=admin
PLATESTREAM_KAFKA_SASL_PASSWORD=$admin_pw
ENV
    cat > "$state/admin.properties" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
PROPS
  )
}

start() {
  local scram=${1:-0}
  need_tools
  if running; then cat "$state/bootstrap"; return 0; fi
  resolve_jars
  if [ -f "$state/data/meta.properties" ] && [ -f "$state/server.properties" ]; then
    launch "again on its data in $state (a fresh broker: $0 reset $state)"
    return 0
  fi
  rm -rf "$state"; mkdir -p "$state/data"
  local port cport broker_pw="" controller_pw="" admin_pw=""
  port=$(free_port); cport=$(free_port)
  while [ "$cport" = "$port" ]; do cport=$(free_port); done
  local scram_args=()
  if [ "$scram" = 1 ]; then
    chmod 700 "$state"  # its server.properties and admin files hold passwords
    broker_pw=$(secret); controller_pw=$(secret); admin_pw=$(secret)
    scram_args=(--add-scram "SCRAM-SHA-512=[name=broker,password=$broker_pw]"
                --add-scram "SCRAM-SHA-512=[name=admin,password=$admin_pw]")
    write_admin_files
  fi
  cat > "$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
$(listener_props)
controller.quorum.bootstrap.servers=127.0.0.1:$cport
log.dirs=$state/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.check.interval.ms=5000
PROPS
  cat > "$state/log4j2.properties" <<'PROPS'
rootLogger.level=WARN
rootLogger.appenderRef.f.ref=F
appender.f.type=File
appender.f.name=F
appender.f.fileName=${sys:kafka.logs.dir}/server.log
appender.f.layout.type=PatternLayout
appender.f.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka.server.KafkaRaftServer
logger.kafka.level=INFO
PROPS
  # a base64 UUID; one that starts with '-' would be read as an option, so draw again
  local cluster_id
  cluster_id=$(python3 -c 'import base64,uuid
while (c := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"): pass
print(c)')
  java "${jvm[@]}" -cp "$libs/*" kafka.tools.StorageTool format --cluster-id "$cluster_id" \
    --standalone --config "$state/server.properties" "${scram_args[@]}" >"$state/format.log" 2>&1 || { cat "$state/format.log" >&2; die "storage format failed"; }
  echo "127.0.0.1:$port" > "$state/bootstrap"
  launch "fresh in $state"
}

# The broker of $state, formatted already: started, and waited for until it serves.
launch() {
  local started_before=0
  [ -f "$state/server.log" ] && started_before=$(grep -c "Kafka Server started" "$state/server.log" || true)
  nohup java "${jvm[@]}" -cp "$libs/*" kafka.Kafka "$state/server.properties" >"$state/stdout.log" 2>&1 &
  echo $! > "$state/pid"
  local deadline=$((SECONDS + 90))
  until [ "$(grep -c "Kafka Server started" "$state/server.log" 2>/dev/null || true)" -gt "$started_before" ]; do
    running || { tail -30 "$state/stdout.log" "$state/server.log" >&2 2>/dev/null; die "broker exited during start-up ($1; if its port is taken now: $0 reset $state)"; }
    [ $SECONDS -lt $deadline ] || { stop; die "broker did not start within 90 s (logs in $state)"; }
    sleep 0.3
  done
  cat "$state/bootstrap"
}

stop() {
  running || { rm -f "$state/pid"; return 0; }
  local pid; pid=$(cat "$state/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$state/pid"
}

case "$cmd" in
  start) start 0 ;;
  start-scram) start 1 ;;
  stop) stop ;;
  reset) stop; rm -rf "$state" ;;
  status) running && cat "$state/bootstrap" || exit 1 ;;
  *) echo "usage: $0 start|start-scram|stop|reset|status [STATE_DIR]" >&2; exit 2 ;;
esac
