// services: opensearch, elasticsearch
/** The connector contract suite (test/support/connector-contract.ts) over both search kinds, on real servers. */
import { getConnectorKind } from '../../src/connectors/registry.js';
import { connectorContract } from '../support/connector-contract.js';
import { searchPlace } from '../support/search.js';

for (const name of ['opensearch', 'elasticsearch'] as const) {
  connectorContract({
    kind: getConnectorKind(name)!,
    place: () => searchPlace(name),
    sourceOf: (table) => ({ index: table }),
  });
}
