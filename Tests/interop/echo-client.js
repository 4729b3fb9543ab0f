// Calls the RaftKv echo test service with stock grpc-js, using only the .proto file.
// Usage: node echo-client.js <port> <path/to/test.proto>
// Prints one JSON object with what each call returned; exits non-zero on unexpected failures.
'use strict';

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [port, protoPath] = process.argv.slice(2);
if (!port || !protoPath) {
  console.error('usage: node echo-client.js <port> <test.proto>');
  process.exit(2);
}

const definition = protoLoader.loadSync(protoPath, { keepCase: false, longs: String, defaults: true });
const Echo = grpc.loadPackageDefinition(definition).raftkv.grpc.test.Echo;
const client = new Echo(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
const deadline = () => new Date(Date.now() + 30000);

function unary(request) {
  return new Promise((resolve) => {
    client.Unary(request, { deadline: deadline() }, (error, reply) => {
      resolve(error ? { code: error.code, details: error.details } : { code: 0, message: reply.message, peer: reply.peer });
    });
  });
}

function serverStream(request) {
  return new Promise((resolve) => {
    const messages = [];
    const call = client.ServerStream(request, { deadline: deadline() });
    call.on('data', (reply) => messages.push(reply.message));
    call.on('error', (error) => resolve({ code: error.code, details: error.details, messages }));
    call.on('end', () => resolve({ code: 0, messages }));
  });
}

function duplex(messages) {
  return new Promise((resolve) => {
    const replies = [];
    const call = client.Duplex({ deadline: deadline() });
    call.on('data', (reply) => replies.push(reply.message));
    call.on('error', (error) => resolve({ code: error.code, details: error.details, replies }));
    call.on('end', () => resolve({ code: 0, replies }));
    for (const message of messages) {
      call.write({ message });
    }
    call.end();
  });
}

async function main() {
  const result = {
    unary: await unary({ message: 'hello from grpc-js' }),
    error: await unary({ failWithStatus: 5, failMessage: 'clé introuvable ✓' }),
    serverStream: await serverStream({ message: 's', count: 3 }),
    duplex: await duplex(['a', 'b', 'c']),
  };
  client.close();
  console.log(JSON.stringify(result));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
