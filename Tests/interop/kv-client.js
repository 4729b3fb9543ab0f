// Calls a RaftKv gateway with stock grpc-js, using only the published raftkv.proto.
// Usage: node kv-client.js <host:port> <path/to/raftkv.proto>
// Prints one JSON object with what each call returned.
'use strict';

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [target, protoPath] = process.argv.slice(2);
if (!target || !protoPath) {
  console.error('usage: node kv-client.js <host:port> <raftkv.proto>');
  process.exit(2);
}

const definition = protoLoader.loadSync(protoPath, { keepCase: false, longs: String, defaults: true });
const KV = grpc.loadPackageDefinition(definition).raftkv.v1.KV;
const client = new KV(target, grpc.credentials.createInsecure());
const deadline = () => new Date(Date.now() + 30000);

function call(method, request) {
  return new Promise((resolve) => {
    client[method](request, { deadline: deadline() }, (error, reply) => {
      resolve(error ? { code: error.code, details: error.details } : { code: 0, reply });
    });
  });
}

(async () => {
  const session = await call('RegisterSession', {});
  const sessionId = session.reply.sessionId;
  const put = await call('Put', { sessionId, sequence: 1, key: Buffer.from('interop'), value: Buffer.from('from grpc-js') });
  const get = await call('Get', { key: Buffer.from('interop') });
  const emptyKey = await call('Put', { sessionId, sequence: 2, key: Buffer.alloc(0), value: Buffer.from('x') });
  console.log(JSON.stringify({
    session: { code: session.code, sessionId },
    put: { code: put.code, modRevision: put.code === 0 ? put.reply.modRevision : null },
    get: { code: get.code, value: get.code === 0 ? get.reply.kv.value.toString('utf8') : null },
    emptyKey: { code: emptyKey.code, details: emptyKey.details },
  }));
  client.close();
})();
