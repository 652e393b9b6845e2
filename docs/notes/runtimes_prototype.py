"""Prototype: timm MobileNetV3 -> .tflite (litert-torch) and .pte (ExecuTorch/XNNPACK),
fp32 + int8, run in ai-edge-litert Interpreter and ExecuTorch Runtime, compare, time.

Run:  OMP_NUM_THREADS=1 nice -n 19 /tmp/rt-venv/bin/python /tmp/rt-proto.py [tflite|pte|all]
"""
import os
os.environ.setdefault("OMP_NUM_THREADS", "1")
import sys, time, json, warnings
import numpy as np
import torch
torch.set_num_threads(1)
import timm

OUT = "/tmp/rt-out"
os.makedirs(OUT, exist_ok=True)


# ----------------------------------------------------------------- LiteRT
def convert_tflite(model, example, int8_calib=None, path=None):
    """model: eval nn.Module; example: tuple of tensors (NCHW);
    int8_calib: iterable of input tensors -> full-integer static PT2E quant."""
    import litert_torch
    model = model.eval()
    if int8_calib is None:
        edge = litert_torch.convert(model, example)
        path = path or f"{OUT}/model_fp32.tflite"
    else:
        from litert_torch.quantize import pt2e_quantizer as pq
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, convert_pt2e
        quantizer = pq.PT2EQuantizer().set_global(
            pq.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
        gm = torch.export.export(model, example).module()
        gm = prepare_pt2e(gm, quantizer)
        with torch.no_grad():
            for xb in int8_calib:
                gm(xb)
        gm = convert_pt2e(gm, fold_quantize=False)
        from torchao.quantization.pt2e import move_exported_model_to_eval
        gm = move_exported_model_to_eval(gm)   # good practice; litert still warns 'converted in training mode' (GraphModule.training flag) - harmless, graph was exported from eval()
        edge = litert_torch.convert(gm, example,
                                    quant_config=QuantConfig(pt2e_quantizer=quantizer))
        path = path or f"{OUT}/model_int8.tflite"
    edge.export(path)
    return path


def quantize_tflite_aeq(fp32_path, int8_calib, path=None):
    """Alternative full-int8 path: post-conversion static quant of the fp32 .tflite with
    ai_edge_quantizer (recipe static_wi8_ai8: int8 per-channel weights, int8 activations).
    Produces an all-int8 graph (no float islands), int8 I/O."""
    from ai_edge_quantizer import quantizer as aeq, recipe
    from ai_edge_litert.interpreter import Interpreter
    sigs = Interpreter(model_path=fp32_path).get_signature_list()   # {'serving_default': {'inputs': ['args_0'], ...}}
    sig = next(iter(sigs)); in_name = sigs[sig]["inputs"][0]
    q = aeq.Quantizer(fp32_path)
    q.load_quantization_recipe(recipe.static_wi8_ai8())
    calib = q.calibrate({sig: [{in_name: np.asarray(c, dtype=np.float32)} for c in int8_calib]}, num_threads=1)
    path = path or fp32_path.replace(".tflite", "_aeq_int8.tflite")
    q.quantize(calib).export_model(path, overwrite=True)
    return path


def convert_tflite_aeq(model, example, int8_calib):
    return quantize_tflite_aeq(convert_tflite(model, example), int8_calib)


_TFL_CACHE = {}
def _tfl_interp(path, num_threads=1):
    from ai_edge_litert.interpreter import Interpreter
    key = (path, num_threads)
    if key not in _TFL_CACHE:
        it = Interpreter(model_path=path, num_threads=num_threads)
        it.allocate_tensors()
        _TFL_CACHE[key] = it
    return _TFL_CACHE[key]


def run_tflite(path, x):
    """x: torch/np float32 NCHW (litert-torch keeps the torch layout). Returns float logits."""
    it = _tfl_interp(path)
    inp = it.get_input_details()[0]
    out = it.get_output_details()[0]
    x = np.asarray(x, dtype=np.float32)
    if inp["dtype"] in (np.int8, np.uint8):          # quantized I/O (not the default)
        s, z = inp["quantization"]
        x = np.clip(np.round(x / s + z), -128, 127).astype(inp["dtype"])
    it.set_tensor(inp["index"], x)
    it.invoke()
    y = it.get_tensor(out["index"])
    if out["dtype"] in (np.int8, np.uint8):
        s, z = out["quantization"]
        y = (y.astype(np.float32) - z) * s
    return y


def tflite_tensor_summary(path):
    it = _tfl_interp(path)
    det = it.get_tensor_details()
    dtypes = {}
    for d in det:
        k = np.dtype(d["dtype"]).name
        dtypes[k] = dtypes.get(k, 0) + 1
    io = {
        "inputs": [(d["name"], list(d["shape"]), np.dtype(d["dtype"]).name, d["quantization"]) for d in it.get_input_details()],
        "outputs": [(d["name"], list(d["shape"]), np.dtype(d["dtype"]).name, d["quantization"]) for d in it.get_output_details()],
        "all_tensor_dtypes": dtypes,
    }
    try:
        ops = sorted({o["op_name"] for o in it._get_ops_details()})
        io["ops"] = ops
    except Exception as e:  # noqa
        io["ops"] = f"n/a ({e})"
    return io


# ----------------------------------------------------------------- ExecuTorch
def export_pte(model, example, int8_calib=None, path=None):
    from executorch.exir import to_edge_transform_and_lower
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    model = model.eval()
    if int8_calib is None:
        ep = torch.export.export(model, example)
        path = path or f"{OUT}/model_fp32.pte"
    else:
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer, get_symmetric_quantization_config)
        from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, convert_pt2e
        q = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        gm = torch.export.export(model, example).module()
        gm = prepare_pt2e(gm, q)
        with torch.no_grad():
            for xb in int8_calib:
                gm(xb)
        gm = convert_pt2e(gm)
        ep = torch.export.export(gm, example)
        path = path or f"{OUT}/model_int8.pte"
    et = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    with open(path, "wb") as f:
        f.write(et.buffer)
    return path


_PTE_CACHE = {}
def _pte_method(path):
    from executorch.runtime import Runtime
    if path not in _PTE_CACHE:
        rt = Runtime.get()
        prog = rt.load_program(path)
        _PTE_CACHE[path] = prog.load_method("forward")
    return _PTE_CACHE[path]


def run_pte(path, x):
    m = _pte_method(path)
    out = m.execute([torch.as_tensor(x, dtype=torch.float32)])
    return out[0].numpy()


def set_et_threads(n=1):
    try:
        from executorch.extension.pybindings import portable_lib as pl
        pl._unsafe_reset_threadpool(n)
        return pl._threadpool_get_thread_count()
    except Exception as e:  # noqa
        return f"n/a ({e})"


# ----------------------------------------------------------------- helpers
def median_latency_ms(fn, x, n=50, warmup=5):
    for _ in range(warmup):
        fn(x)
    ts = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(x); ts.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(ts))


def main(which="all"):
    torch.manual_seed(0)
    model = timm.create_model("mobilenetv3_small_050", pretrained=False, num_classes=10, in_chans=1).eval()
    x = torch.randn(1, 1, 32, 32)
    example = (x,)
    calib = [torch.randn(1, 1, 32, 32) for _ in range(8)]
    tests = [torch.randn(1, 1, 32, 32) for _ in range(5)]
    with torch.no_grad():
        ref = [model(t).numpy() for t in tests]
    res = {"torch_latency_ms": median_latency_ms(lambda t: model(t), x)}

    def evaluate(tag, conv, run, **kw):
        r = {}
        try:
            t0 = time.perf_counter()
            p = conv(model, example, **kw)
            r["convert_s"] = round(time.perf_counter() - t0, 2)
            r["path"] = p; r["size_kb"] = round(os.path.getsize(p) / 1024, 1)
            outs = [run(p, t.numpy() if "tfl" in tag else t) for t in tests]
            diffs = [float(np.abs(o - rr).max()) for o, rr in zip(outs, ref)]
            r["max_abs_diff"] = max(diffs)
            r["argmax_agree"] = int(sum(int(o.argmax() == rr.argmax()) for o, rr in zip(outs, ref)))
            r["out_shape"] = list(np.shape(outs[0]))
            xin = x.numpy() if "tfl" in tag else x
            r["latency_ms_median50"] = round(median_latency_ms(lambda t: run(p, t), xin), 4)
            if "tfl" in tag:
                r["tensors"] = tflite_tensor_summary(p)
        except Exception as e:
            import traceback
            r["error"] = f"{type(e).__name__}: {e}"[:3000]
            r["tb"] = traceback.format_exc()[-3000:]
        res[tag] = r
        print(tag, json.dumps({k: v for k, v in r.items() if k != "tb"}, default=str, indent=1), flush=True)
        if "tb" in r:
            print(r["tb"], flush=True)

    if which in ("all", "tflite"):
        evaluate("tflite_fp32", convert_tflite, run_tflite)
        evaluate("tflite_int8", convert_tflite, run_tflite, int8_calib=calib)
        evaluate("tflite_int8_aeq", convert_tflite_aeq, run_tflite, int8_calib=calib)
    if which in ("all", "pte"):
        res["et_threads"] = set_et_threads(1)
        evaluate("pte_fp32", export_pte, run_pte)
        evaluate("pte_int8", export_pte, run_pte, int8_calib=calib)
    print("torch_latency_ms", res["torch_latency_ms"])
    with open(f"{OUT}/results_{which}.json", "w") as f:
        json.dump(res, f, default=str, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "all")
