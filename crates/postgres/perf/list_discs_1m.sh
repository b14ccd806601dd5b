#!/usr/bin/env bash
# Measures the disc listing query (discs::LIST_DISCS) on 1,000,000 discs.
#
#   crates/postgres/perf/list_discs_1m.sh postgres://postgres@127.0.0.1:55432 [scratch_db]
#
# Creates (or reuses) a scratch database, applies the migrations with psql,
# fills it once (~1 min), then prints the plan and execution time of each
# case with custom plans (what the adapter's one-shot list statements get) and, for one
# case, with a generic plan (what a plan cache may switch to otherwise).
set -euo pipefail
server=${1:?server URL without database}
db=${2:-recordshop_perf}
here=$(cd "$(dirname "$0")" && pwd)
psql_db() { psql -X -q -v ON_ERROR_STOP=1 "$server/$db" "$@"; }

if ! psql -X -Atq "$server/postgres" -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
  psql -X -q "$server/postgres" -c "CREATE DATABASE \"$db\""
  psql_db -f "$here/../../../migrations/V1__catalog_customers_orders.sql"
  psql_db <<'SQL'
-- Titles of 1 to 4 words drawn from 150 (in random order) and a number;
-- 1% soft-deleted. Each word is in ~1.6% of the titles.
SELECT setseed(0.42);
CREATE TEMP TABLE words AS
SELECT row_number() OVER () AS n, w FROM unnest(string_to_array(
'Love Night Midnight Blue Train Heart Fire Rain Dream Summer Winter River Road Moon Sun Gold Silver Wild Sweet Dark Light City Ocean Star Shadow Thunder Velvet Electric Desert Paradise Lonely Highway Garden Echo Storm Crystal Angel Devil Rebel Soul Kind Of Blue Abbey Road Purple Revolver Thriller Rumours Nevermind Animals Wall Moon Side Born Run Hotel California Back Black Highway Hell Exile Main Street Pet Sounds London Calling Blonde Harvest Tapestry Graceland Remain Light Horses Marquee Moon Ziggy Stardust Spiders Mars Station Young Americans Low Heroes Lodger Scary Monsters Let Dance Tonight Never Again Forever Always Golden Years Heat Wave Cold Snow Spring Autumn Morning Evening Sky Blood Tears Smoke Mirror Glass Stone Iron Steel Paper Circus Carnival Radio Television Machine Ghost Spirit Temple Kingdom Empire Island Mountain Valley Harbor Bridge Tower Castle Forest Jungle Savannah Prairie Canyon Lagoon Volcano Glacier Comet Planet Galaxy Nebula Orbit Rocket Satellite Signal Static Noise Silence Whisper Scream Laughter Memory',
' ')) AS w;
INSERT INTO discs (id, name, artist, year_of_release, genre, quantity, deleted_at)
SELECT gen_random_uuid(),
       (SELECT string_agg(w, ' ' ORDER BY random()) FROM words WHERE n IN (
            SELECT 1 + floor(random() * 150)::int + 0 * i
            FROM generate_series(1, 1 + floor(random() * 4)::int + 0 * i))) || ' No. ' || i,
       'Artist ' || floor(random() * 50000)::int,
       1950 + floor(random() * 76)::int,
       (ARRAY['Rock','Jazz','Blues','Pop','Indie','Soul','Funk','Metal','Punk','Reggae','Classical',
              'Folk','Country','Hip Hop','Electronic','Ambient','Disco','House','Techno','Gospel'])
           [1 + floor(random() * 20)::int],
       floor(random() * 40)::int,
       CASE WHEN random() < 0.01 THEN now() END
FROM generate_series(1, 1000000) AS i;
VACUUM ANALYZE discs;
SQL
fi

# The statement of discs::LIST_DISCS, verbatim.
prepare="PREPARE list_discs(text,text,text,text,text,text,integer,integer,boolean,bigint,bigint) AS
    WITH page AS (
        SELECT id, name
        FROM discs
        WHERE deleted_at IS NULL
          AND (\$1::text IS NULL OR name ILIKE '%' || \$1 || '%')
          AND (\$2::text IS NULL OR artist ILIKE '%' || \$2 || '%')
          AND (\$3::text IS NULL OR genre ILIKE '%' || \$3 || '%')
          AND (\$4::text IS NULL OR name = \$4)
          AND (\$5::text IS NULL OR artist = \$5)
          AND (\$6::text IS NULL OR genre = \$6)
          AND (\$7::integer IS NULL OR year_of_release >= \$7)
          AND (\$8::integer IS NULL OR year_of_release <= \$8)
          AND (\$9::boolean IS NULL OR (quantity > 0) = \$9)
        ORDER BY name, id
        LIMIT \$10 OFFSET \$11
    )
    SELECT d.id, d.name, d.artist, d.year_of_release, d.genre, d.quantity,
           d.created_at, d.updated_at
    FROM page JOIN discs d ON d.id = page.id
    ORDER BY page.name, page.id;"

run() { # label, plan_cache_mode, EXECUTE arguments
  local out
  out=$(printf '%s\nSET plan_cache_mode = %s;\nEXECUTE list_discs(%s);\nEXPLAIN (ANALYZE, BUFFERS) EXECUTE list_discs(%s);\n' \
        "$prepare" "$2" "$3" "$3" | psql_db 2>&1 || true)
  printf '%-32s | %-18s | %-48s | %s\n' "$1" "$2" \
    "$(grep -oE '(Bitmap Index Scan|Index Only Scan|Index Scan|Parallel Seq Scan|Seq Scan) (using|on) [a-z_]+' <<<"$out" | head -1)" \
    "$(grep -oE 'Execution Time: [0-9.]+ ms' <<<"$out")"
}
N=NULL
c=force_custom_plan
run "no filter"                    $c "$N,$N,$N,$N,$N,$N,$N,$N,$N,100,0"
run "name=o. 123456 (1 match)"     $c "'o. 123456',$N,$N,$N,$N,$N,$N,$N,$N,100,0"
run "name=golden years (~50)"      $c "'golden years',$N,$N,$N,$N,$N,$N,$N,$N,100,0"
run "name=nebula (~1.6%)"          $c "'nebula',$N,$N,$N,$N,$N,$N,$N,$N,100,0"
run "name=love (~1.7%)"            $c "'love',$N,$N,$N,$N,$N,$N,$N,$N,100,0"
run "name=o (most)"                $c "'o',$N,$N,$N,$N,$N,$N,$N,$N,100,0"
run "name=zzzz (none)"             $c "'zzzz',$N,$N,$N,$N,$N,$N,$N,$N,100,0"
run "name=xq (none, < 3 chars)"    $c "'xq',$N,$N,$N,$N,$N,$N,$N,$N,100,0"
run "name=love genre=jazz in_stock" $c "'love',$N,'jazz',$N,$N,$N,$N,$N,true,100,0"
run "artist=artist 4712"           $c "$N,'artist 4712',$N,$N,$N,$N,$N,$N,$N,100,0"
run "genre_exact=Jazz"             $c "$N,$N,$N,$N,$N,'Jazz',$N,$N,$N,100,0"
run "year 1977..1977"              $c "$N,$N,$N,$N,$N,$N,1977,1977,$N,100,0"
run "name=o. 123456 (1 match)"     force_generic_plan "'o. 123456',$N,$N,$N,$N,$N,$N,$N,$N,100,0"
