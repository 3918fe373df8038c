// services: spark-thrift
/**
 * The connector contract suite of the hive kind against Spark's Thrift server (Spark 3.5.1,
 * scripts/services/spark-thrift.sh): many users' "Hive" is Spark SQL behind the same protocol.
 */
import { getConnectorKind } from '../../src/connectors/registry.js';
import { connectorContract } from '../support/connector-contract.js';
import { hivePlace } from '../support/hive.js';

connectorContract({ kind: getConnectorKind('hive')!, sql: 'spark', place: () => hivePlace('spark-thrift') });
