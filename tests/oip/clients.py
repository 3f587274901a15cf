"""Drives real Open Inference Protocol clients for tests/all/oip.rs.

Usage: python clients.py CLIENT HOST:PORT PLAN_JSON
CLIENT is `triton` (tritonclient.http), `triton_grpc` (tritonclient.grpc, raw tensors; `binary`
is ignored), `kserve` (kserve.InferenceRESTClient, protocol v2) or `kserve_grpc`
(kserve.InferenceGRPCClient: `binary` sends raw_input_contents, else the typed contents).
PLAN_JSON is a list of steps; each prints one result, so the output is a JSON list:
  {"op": "live"} / {"op": "ready"} / {"op": "model_ready", "model": M}
  {"op": "metadata", "model": M}
  {"op": "infer", "model": M, "inputs": [{"name", "datatype", "data" (nested lists)}],
   "binary": bool, "outputs": [names] or null, "id": str or null, "headers": {...}}
A result is {"ok": value} or {"error": {"status": int or null, "message": str}}; over gRPC the
status is the code's name (`NOT_FOUND`).
Infer values: {"id", "model_version", "outputs": {name: {"datatype", "shape", "data" (flat)}}};
floats print as Python's repr, which reads back bit-exact.
"""

import asyncio
import json
import sys

import numpy as np

NUMPY = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BYTES": np.object_,
}


def array(spec):
    return np.array(spec["data"], dtype=NUMPY[spec["datatype"]])


def plain(name, datatype, values):
    flat = values.flatten().tolist()
    if datatype == "BYTES":
        flat = [v.decode() if isinstance(v, bytes) else v for v in flat]
    return {"datatype": datatype, "shape": list(values.shape), "data": flat}


def ints(shape):
    """A shape's dimensions as ints (tritonclient.grpc's JSON gives int64s as strings)."""
    return [int(d) for d in shape]


def triton(url, plan, grpc=False):
    if grpc:
        import tritonclient.grpc as client_module
    else:
        import tritonclient.http as client_module
    from tritonclient.utils import InferenceServerException

    client = client_module.InferenceServerClient(url)
    results = []
    for step in plan:
        op = step["op"]
        try:
            if op == "live":
                value = client.is_server_live()
            elif op == "ready":
                value = client.is_server_ready()
            elif op == "model_ready":
                value = client.is_model_ready(step["model"])
            elif op == "metadata":
                if grpc:
                    value = client.get_model_metadata(step["model"], as_json=True)
                    for tensor in value.get("inputs", []) + value.get("outputs", []):
                        tensor["shape"] = ints(tensor["shape"])
                else:
                    value = client.get_model_metadata(step["model"])
            elif op == "infer":
                binary = step.get("binary", True)
                inputs = []
                for spec in step["inputs"]:
                    values = array(spec)
                    tensor = client_module.InferInput(
                        spec["name"], list(values.shape), spec["datatype"])
                    if grpc:
                        tensor.set_data_from_numpy(values)
                    else:
                        tensor.set_data_from_numpy(values, binary_data=binary)
                    inputs.append(tensor)
                names = step.get("outputs")
                if names is None:
                    outputs = None
                elif grpc:
                    outputs = [client_module.InferRequestedOutput(n) for n in names]
                else:
                    outputs = [client_module.InferRequestedOutput(n, binary_data=binary)
                               for n in names]
                result = client.infer(
                    step["model"], inputs, outputs=outputs,
                    request_id=step.get("id") or "", headers=step.get("headers"),
                )
                response = result.get_response(as_json=True) if grpc else result.get_response()
                value = {
                    "id": response.get("id"),
                    "model_version": response.get("model_version"),
                    "outputs": {
                        o["name"]: plain(o["name"], o["datatype"], result.as_numpy(o["name"]))
                        for o in response["outputs"]
                    },
                }
            else:
                raise ValueError(op)
            results.append({"ok": value})
        except InferenceServerException as e:
            status = e.status()
            if grpc:
                status = str(status).removeprefix("StatusCode.") if status else None
            else:
                status = int(status) if status else None
            results.append({"error": {"status": status, "message": e.message()}})
    return results


def kserve_inputs(step, binary):
    """A step's inputs as KServe's InferInputs (binary: raw bytes, else typed values)."""
    from kserve.protocol.infer_type import InferInput

    inputs = []
    for spec in step["inputs"]:
        values = array(spec)
        tensor = InferInput(spec["name"], list(values.shape), spec["datatype"])
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    return inputs


def kserve_value(response):
    """A KServe InferResponse as an infer step's result."""
    return {
        "id": response.id,
        "model_version": response.model_version,
        "outputs": {o.name: plain(o.name, o.datatype, o.as_numpy()) for o in response.outputs},
    }


def kserve(url, plan):
    import httpx
    from kserve import InferenceRESTClient, RESTConfig
    from kserve.protocol.infer_type import InferRequest, RequestedOutput

    async def run():
        base = "http://" + url
        client = InferenceRESTClient(RESTConfig(protocol="v2"))
        results = []
        try:
            for step in plan:
                op = step["op"]
                try:
                    if op == "live":
                        value = await client.is_server_live(base)
                    elif op == "ready":
                        value = await client.is_server_ready(base)
                    elif op == "model_ready":
                        value = await client.is_model_ready(base, step["model"])
                    elif op == "infer":
                        binary = step.get("binary", True)
                        inputs = kserve_inputs(step, binary)
                        names = step.get("outputs")
                        outputs = None if names is None else [
                            RequestedOutput(n, parameters={"binary_data": binary}) for n in names
                        ]
                        request = InferRequest(
                            step["model"], inputs, request_id=step.get("id"),
                            request_outputs=outputs,
                            parameters={"binary_data_output": binary},
                        )
                        response = await client.infer(
                            base, request, model_name=step["model"], headers=step.get("headers"))
                        value = kserve_value(response)
                    else:
                        raise ValueError(op)
                    results.append({"ok": value})
                except httpx.HTTPStatusError as e:
                    results.append({"error": {"status": e.response.status_code,
                                              "message": str(e)}})
        finally:
            await client.close()
        return results

    return asyncio.run(run())


def kserve_grpc(url, plan):
    import grpc
    from kserve import InferenceGRPCClient
    from kserve.protocol.infer_type import InferRequest, RequestedOutput

    async def run():
        # No retries: an UNAVAILABLE answer is reported, not retried.
        client = InferenceGRPCClient(url, channel_args=[("grpc.enable_retries", 0)])
        results = []
        try:
            for step in plan:
                op = step["op"]
                headers = list((step.get("headers") or {}).items()) or None
                try:
                    if op == "live":
                        value = await client.is_server_live(headers=headers)
                    elif op == "ready":
                        value = await client.is_server_ready(headers=headers)
                    elif op == "model_ready":
                        value = await client.is_model_ready(step["model"], headers=headers)
                    elif op == "infer":
                        binary = step.get("binary", True)
                        inputs = kserve_inputs(step, binary)
                        names = step.get("outputs")
                        outputs = None if names is None else [RequestedOutput(n) for n in names]
                        request = InferRequest(
                            step["model"], inputs, request_id=step.get("id"),
                            request_outputs=outputs,
                        )
                        response = await client.infer(request, headers=headers)
                        value = kserve_value(response)
                    else:
                        raise ValueError(op)
                    results.append({"ok": value})
                except grpc.aio.AioRpcError as e:
                    results.append({"error": {"status": e.code().name, "message": e.details()}})
        finally:
            await client.close()
        return results

    return asyncio.run(run())


if __name__ == "__main__":
    client, url, plan = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    clients = {
        "triton": triton,
        "triton_grpc": lambda url, plan: triton(url, plan, grpc=True),
        "kserve": kserve,
        "kserve_grpc": kserve_grpc,
    }
    print(json.dumps(clients[client](url, plan)))
