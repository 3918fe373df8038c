/**
 * `npm run schema`: rewrites the generated parts of schemas/pipeline.schema.json (the connection kinds) from
 * schemas/connections/<kind>.schema.json and the registry's kinds. See src/config/schema.ts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatJson, pipelineSchema, PIPELINE_SCHEMA_FILE, schemasDir } from '../src/config/schema.js';
import { connectorKindNames } from '../src/connectors/registry.js';

const file = join(schemasDir(), PIPELINE_SCHEMA_FILE);
writeFileSync(file, formatJson(pipelineSchema(connectorKindNames())));
console.log(`wrote ${file}`);
