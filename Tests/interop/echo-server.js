// A stock grpc-js implementation of the echo test service, for testing the RaftKv client.
// Usage: node echo-server.js <path/to/test.proto>
// Binds 127.0.0.1 on a free port, prints "LISTENING <port>", and serves until stdin closes.
'use strict';

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [protoPath] = process.argv.slice(2);
if (!protoPath) {
  console.error('usage: node echo-server.js <test.proto>');
  process.exit(2);
}

const definition = protoLoader.loadSync(protoPath, { keepCase: false, longs: String, defaults: true });
const Echo = grpc.loadPackageDefinition(definition).raftkv.grpc.test.Echo;

function failure(request) {
  return request.failWithStatus ? { code: request.failWithStatus, details: request.failMessage } : null;
}

const server = new grpc.Server();
server.addService(Echo.service, {
  Unary(call, callback) {
    const error = failure(call.request);
    if (error) {
      callback(error);
      return;
    }
    const metadata = call.metadata.get('x-test');
    callback(null, { message: call.request.message, metadata: metadata.length ? String(metadata[0]) : '' });
  },
  ServerStream(call) {
    for (let i = 0; i < call.request.count; i++) {
      call.write({ message: `${call.request.message}#${i}`, index: i });
    }
    const error = failure(call.request);
    if (error) {
      call.emit('error', error);
      return;
    }
    call.end();
  },
  ClientStream(call, callback) {
    const messages = [];
    call.on('data', (request) => messages.push(request.message));
    call.on('end', () => callback(null, { message: messages.join(','), index: messages.length }));
  },
  Duplex(call) {
    let index = 0;
    call.on('data', (request) => call.write({ message: request.message, index: index++ }));
    call.on('end', () => call.end());
  },
});

server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) {
    console.error(error);
    process.exit(1);
  }
  console.log(`LISTENING ${port}`);
});

// The test owns this process: when it closes stdin (or dies), stop serving.
process.stdin.resume();
process.stdin.on('end', () => server.tryShutdown(() => process.exit(0)));
