// The seed's CORS example in JavaScript, the twin of plugins/cors_echo (Rust): GET returns the
// full path, POST echoes the body, OPTIONS answers the preflight, each with the script's own
// Allow and Access-Control-* headers.

import { AMLResponse, rawhttp } from 'scorehost-guest/raw';

export function init() {
  console.log('This is init()');
}

/** The headers the seed's script sets on every answer. */
function withCors(response) {
  response.headers['Allow'] = 'OPTIONS, GET, POST';
  response.headers['Access-Control-Allow-Methods'] = 'OPTIONS, GET, POST';
  response.headers['Access-Control-Allow-Origin'] = 'http://www.example.com';
  response.headers['Access-Control-Allow-Headers'] = '*';
  return response;
}

export const run = rawhttp(function run(request) {
  if (request.method === 'GET') {
    return withCors(new AMLResponse(request.fullPath, 200));
  } else if (request.method === 'POST') {
    return withCors(new AMLResponse(request.getData(false), 200));
  } else if (request.method === 'OPTIONS') {
    return withCors(new AMLResponse('', 200));
  }
  return new AMLResponse('bad request', 400);
});
