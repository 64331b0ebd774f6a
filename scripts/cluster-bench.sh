#!/bin/bash
# cluster-bench.sh N RATE [DUR] — N serve nodes (--cluster) on one PostgreSQL,
# one smsc-sim, RATE msg/s offered in total (RATE/N per node, each node its
# own bench load generator), DUR seconds (default 30). Prints accepted/s,
# submit p99 per node, DLRs (got, expected, duplicates, p99 ms) and CPU µs
# per accepted message of all serve processes and all PostgreSQL processes.
# Needs root (PostgreSQL runs as the postgres user) and bin/smsledger (make
# build), or BIN=path. KEEP=1 leaves everything running and prints its PIDs;
# PROFILE_DIR=D writes each node's CPU profile to D/node-N.cpu at its stop;
# PGSS=1 prints PostgreSQL's statements over the load (pg_stat_statements).
# The binds are the same in all whatever N, so that N compares the nodes and
# not the connections: BINDS customer binds (default 6, split among the
# loaded nodes) and SUPPLIER_BINDS supplier binds (default 6, split by the
# cluster). PER_NODE_BINDS=4 is the layout of the first sessions' tables:
# 4 customer binds per node and 4·N supplier binds.
# docs/PERFORMANCE.md, "Several nodes".
N=$1; RATE=$2; DUR=${3:-30}
BINDS=${BINDS:-6}; SUPPLIER_BINDS=${SUPPLIER_BINDS:-6}
[ -n "$PER_NODE_BINDS" ] && SUPPLIER_BINDS=$((PER_NODE_BINDS * N))
BIN=${BIN:-bin/smsledger}
W=$(mktemp -d)
$BIN migrate --data-dir $W/db >/dev/null 2>&1 || { echo migrate failed; exit 1; }
PW=$(cat $W/db/postgres.password)
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
PGSSFLAGS=""; [ -n "$PGSS" ] && PGSSFLAGS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c pg_stat_statements.track_planning=on"
PORT=$((40000 + RANDOM % 10000))
chown -R postgres $W/db
su postgres -s /bin/bash -c "$PGBIN/postgres -D $W/db/pgdata -p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=300 -c shared_buffers=512MB -c max_wal_size=4GB -c checkpoint_timeout=15min -c wal_writer_delay=10ms -c wal_writer_flush_after=64kB -c wal_init_zero=off $PGSSFLAGS" > $W/pg.log 2>&1 &
PGPID=$!
sleep 2
DB="postgres://postgres:$PW@127.0.0.1:$PORT/postgres"
TOKEN=nodes-admin-token-0123456789abcdef
head -c 32 /dev/urandom > $W/seal.key; chmod 600 $W/seal.key
SIMPORT=$((PORT+1))
$BIN smsc-sim --addr 127.0.0.1:$SIMPORT --password simpw --dlr-delay 100ms --log-level warn > $W/sim.log 2>&1 &
SIMPID=$!
PIDS=()
for i in $(seq 1 $N); do
  PROF=""; [ -n "$PROFILE_DIR" ] && PROF="$PROFILE_DIR/node-$i.cpu"
  SMSLEDGER_CPU_PROFILE=$PROF $BIN serve --cluster --node-id node-$i --database-url "$DB" --seal-key-file $W/seal.key --admin-token $TOKEN \
    --data-dir $W/n$i --smpp-addr 127.0.0.1:$((PORT+10+i)) --http-addr 127.0.0.1:$((PORT+20+i)) --log-level warn > $W/n$i.log 2>&1 &
  PIDS+=($!)
  sleep 1
done
for i in $(seq 1 $N); do
  for t in $(seq 1 100); do curl -sf http://127.0.0.1:$((PORT+20+i))/readyz >/dev/null && break; sleep 0.2; done
done
API=http://127.0.0.1:$((PORT+21))/v1
A=(-s -o /dev/null -w "%{http_code} " -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
curl "${A[@]}" -X POST $API/suppliers -d "{\"id\":\"sim\",\"name\":\"sim\",\"currency\":\"EUR\",\"host\":\"127.0.0.1\",\"port\":$SIMPORT,\"system_id\":\"smsc-sim\",\"password\":\"simpw\",\"binds\":$SUPPLIER_BINDS,\"tps_limit\":100000,\"window\":1024}"
curl "${A[@]}" -X PUT $API/suppliers/sim/costs -d '[{"prefix":"999","cost":"0.0005"}]'
curl "${A[@]}" -X PUT $API/routes -d '[{"prefix":"999","suppliers":["sim"]}]'
curl "${A[@]}" -X POST $API/tenants -d '{"id":"t1","name":"t1","currency":"EUR","billing":"on_submit","tps_limit":0,"credit_limit":"0","tier":"standard"}'
curl "${A[@]}" -X PUT $API/tenants/t1/rates -d '[{"prefix":"999","price":"0.001"}]'
curl "${A[@]}" -X POST $API/tenants/t1/smpp-credentials -d '{"system_id":"t1","password":"t1pw"}'
curl "${A[@]}" -X POST $API/tenants/t1/topups -d '{"amount":"1000000","reference":"bench"}'
echo
sleep 3
cpu() { local s=0; for p in "$@"; do [ -r /proc/$p/stat ] && s=$((s + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $s; }
pgpids() { local pm=$(head -1 $W/db/pgdata/postmaster.pid); echo $pm $(pgrep -P $pm); }
LOADED=$N
[ -n "$ONLY1" ] && LOADED=1  # ONLY1=1: all the load on node-1, the others only follow
MSGS=$((RATE * DUR / LOADED))
CB=$((BINDS / LOADED)); [ $CB -lt 1 ] && CB=1
[ -n "$PER_NODE_BINDS" ] && CB=$PER_NODE_BINDS
[ -n "$PGSS" ] && psql -q "$DB" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
S0=$(cpu ${PIDS[@]}); P0=$(cpu $(pgpids)); T0=$(date +%s.%N)
PER0=(); for p in ${PIDS[@]}; do PER0+=($(cpu $p)); done
for i in $(seq 1 $LOADED); do
  $BIN bench --smpp-addr 127.0.0.1:$((PORT+10+i)) --system-id t1 --password t1pw --rate $((RATE / LOADED)) --messages $MSGS --duration ${DUR}s --binds $CB --prefix 999 --dlr-wait 20s --smsc-addr 127.0.0.1:$SIMPORT --smsc-password simpw --json > $W/bench$i.json 2> $W/bench$i.err &
  BP+=($!)
done
wait ${BP[@]}
S1=$(cpu ${PIDS[@]}); P1=$(cpu $(pgpids)); T1=$(date +%s.%N)
PER=""; k=0; for p in ${PIDS[@]}; do PER="$PER node-$((k+1)):$(( ($(cpu $p) - ${PER0[$k]}) * 10 ))ms"; k=$((k+1)); done
echo "serve CPU per node over the load:$PER"
python3 - $LOADED $S0 $S1 $P0 $P1 $W <<'PY'
import json,sys
n,s0,s1,p0,p1,w=int(sys.argv[1]),int(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4]),int(sys.argv[5]),sys.argv[6]
hz=100
acc=0; rates=[]; p99=[]; dlr=[]
for i in range(1,n+1):
    try: d=json.load(open(f"{w}/bench{i}.json"))
    except Exception as e:
        print("bench",i,"failed",e); print(open(f"{w}/bench{i}.err").read()[-600:])
        print(f"node-{i}'s log:", open(f"{w}/n{i}.log").read()[-600:]); continue
    acc+=d.get('accepted',0); rates.append(d.get('msg_per_s',0)); p99.append(d.get('p99_ms')); dlr.append((d.get('dlrs'),d.get('dlrs_expected'),d.get('dlr_duplicates'),round(d.get('dlr_p99_ms',0))))
print(f"nodes={n} accepted={acc} accepted_per_s={sum(rates):.0f} submit_p99_ms={p99} dlrs_got_exp_dup_p99={dlr} serve_us_per_msg={(s1-s0)*1e6/hz/max(acc,1):.0f} pg_us_per_msg={(p1-p0)*1e6/hz/max(acc,1):.0f}")
PY
[ -n "$PGSS" ] && psql "$DB" -c "SELECT calls, round(total_exec_time) AS exec_ms, round(total_plan_time) AS plan_ms, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 70) AS query FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 12"
if [ -n "$KEEP" ]; then echo "DB=$DB PIDS=${PIDS[@]} SIM=$SIMPID PG=$PGPID"; exit 0; fi
kill ${PIDS[@]} 2>/dev/null; wait ${PIDS[@]} 2>/dev/null
kill $SIMPID $PGPID 2>/dev/null; wait 2>/dev/null; rm -rf $W
