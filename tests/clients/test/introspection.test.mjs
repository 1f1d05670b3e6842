// Standard introspection, as GraphiQL, graphql-codegen, Rover and Postman send it: graphql-js's
// own getIntrospectionQuery() with every option on, anonymously, and a schema built from the
// answer that matches the one the server's SDL describes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildClientSchema, getIntrospectionQuery, printSchema } from 'graphql';

import { HTTP_URL } from '../lib/amity.mjs';

test('getIntrospectionQuery() answers anonymously and builds the schema', { timeout: 20000 }, async () => {
  const query = getIntrospectionQuery({
    descriptions: true,
    specifiedByUrl: true,
    directiveIsRepeatable: true,
    schemaDescription: true,
    inputValueDeprecation: true,
  });
  const res = await fetch(HTTP_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query, operationName: 'IntrospectionQuery' }),
  });
  const body = await res.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  const schema = buildClientSchema(body.data);
  const friend = schema.getType('Friend');
  assert.ok(friend, 'Friend is in the schema');
  assert.equal(String(friend.getFields().id.type), 'ID!');
  assert.ok(schema.getSubscriptionType()?.getFields().notifications);
  assert.match(printSchema(schema), /type Query/);
});

test('the default getIntrospectionQuery() works over GET too', { timeout: 20000 }, async () => {
  const url = new URL(HTTP_URL);
  url.searchParams.set('query', getIntrospectionQuery());
  const res = await fetch(url, { headers: { accept: 'application/graphql-response+json' } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  assert.ok(body.data.__schema.types.length > 20);
});
