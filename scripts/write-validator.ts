/**
 * Part of `npm run build`: writes ajv's standalone code of the pipeline schema composed for the registry's kinds to
 * dist/src/config/pipeline-validator.cjs, which the CLI loads instead of compiling the schema at every start (see
 * src/config/schema-errors.ts; it is used only while its schema hash matches the schema files).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type standaloneModule from 'ajv/dist/standalone/index.js';
import { pipelineSchema } from '../src/config/schema.js';
import { PRECOMPILED_VALIDATOR, pipelineAjv, schemaHash } from '../src/config/schema-errors.js';
import { connectorKindNames } from '../src/connectors/registry.js';

const require = createRequire(import.meta.url);
const standaloneCode = (require('ajv/dist/standalone/index.js') as typeof standaloneModule).default;

const schema = pipelineSchema(connectorKindNames());
const ajv = pipelineAjv(true);
const code = standaloneCode(ajv, ajv.compile(schema));
const file = fileURLToPath(new URL(`../src/config/${PRECOMPILED_VALIDATOR}`, import.meta.url));
writeFileSync(file, `${code}\nmodule.exports.schemaHash = ${JSON.stringify(schemaHash(schema))};\n`);
