// Counts the rows of a capfinder run's request parts with DuckDB: an
// independent reader of the Parquet files capfinder writes.
//
//   node count.mjs RUN_DIR          rows in RUN_DIR/requests/**/*.parquet
//   node count.mjs --file F.parquet rows in one file
//
// One glob reads a run's parts and its agents' (requests/agent=<i>/).
// Hive partitioning is off: left to detect it, DuckDB takes the agent
// column from the directory names (a BIGINT) when every part lies in an
// agent's directory and from the rows (an INTEGER) otherwise; turned on,
// it refuses a run with parts in requests/ itself too.
import { DuckDBInstance } from '@duckdb/node-api';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
let glob;
if (args[0] === '--file' && args.length === 2) {
  glob = args[1];
} else if (args.length === 1) {
  glob = join(args[0], 'requests', '**', '*.parquet');
} else {
  console.error('usage: node count.mjs RUN_DIR | --file FILE.parquet');
  process.exit(2);
}
if (args[0] === '--file' && !existsSync(glob)) {
  console.error(`no such file: ${glob}`);
  process.exit(2);
}
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
const quoted = glob.replaceAll("'", "''");
const reader = await conn.runAndReadAll(`SELECT count(*) AS n FROM read_parquet('${quoted}', hive_partitioning = false)`);
console.log(String(reader.getRows()[0][0]));
