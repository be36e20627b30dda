"""The Triton wrapper against the real Triton server that `make test` starts."""

from __future__ import annotations

import numpy as np
import pytest

from factorymesh.common.triton import InvalidInferenceInput, ModelNotFound, TritonClient, TritonUnavailable

pytestmark = pytest.mark.integration

MODEL = "signal_features"


async def test_model_is_ready_and_answers_like_numpy(triton_url: str) -> None:
    async with TritonClient(triton_url, timeout_s=10) as client:
        assert await client.is_server_live()
        assert await client.is_model_ready(MODEL)
        await client.wait_until_ready([MODEL], timeout_s=5)

        rng = np.random.default_rng(7)
        signal = rng.normal(3.0, 2.0, size=(4, 512)).astype(np.float32)
        out = await client.infer(MODEL, {"SIGNAL": signal}, request_id="unit-1")

    assert set(out) == {"MEAN", "STD", "RMS", "PEAK_TO_PEAK"}
    assert out["RMS"].shape == (4, 1)
    np.testing.assert_allclose(out["MEAN"][:, 0], signal.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(out["STD"][:, 0], signal.std(axis=1), rtol=1e-4)
    np.testing.assert_allclose(out["RMS"][:, 0], np.sqrt((signal.astype(np.float64) ** 2).mean(axis=1)), rtol=1e-5)
    np.testing.assert_allclose(out["PEAK_TO_PEAK"][:, 0], np.ptp(signal, axis=1), rtol=1e-6)


async def test_metadata_describes_inputs_and_outputs(triton_url: str) -> None:
    async with TritonClient(triton_url) as client:
        metadata = await client.model_metadata(MODEL)
        config = await client.model_config(MODEL)
    assert [i["name"] for i in metadata["inputs"]] == ["SIGNAL"]
    assert {o["name"] for o in metadata["outputs"]} == {"MEAN", "STD", "RMS", "PEAK_TO_PEAK"}
    assert "dynamic_batching" in config


async def test_unknown_model_is_a_typed_error(triton_url: str) -> None:
    async with TritonClient(triton_url) as client:
        assert not await client.is_model_ready("no_such_model")
        with pytest.raises(ModelNotFound):
            await client.infer("no_such_model", {"SIGNAL": np.zeros((1, 4), np.float32)})


async def test_wrong_input_is_a_typed_error(triton_url: str) -> None:
    async with TritonClient(triton_url) as client:
        with pytest.raises(InvalidInferenceInput):
            await client.infer(MODEL, {"NOT_AN_INPUT": np.zeros((1, 4), np.float32)})


async def test_unreachable_server_is_unavailable_after_retries() -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    async with TritonClient("127.0.0.1:1", timeout_s=2) as client:
        assert not await client.is_server_live()
        with pytest.raises(TritonUnavailable):
            await client.infer(MODEL, {"SIGNAL": np.zeros((1, 4), np.float32)})
