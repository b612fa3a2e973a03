"""Pruning methods (workloads/ml/pruning): masks obey their patterns, each method does what its
paper describes on cases small enough to check by hand."""
from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from nmsim.specfile import SpecError  # noqa: E402
from nmsim.workloads.ml.pruning import MaskCheckError, check_mask, parse_prune_pattern, prune, prunable_layers  # noqa: E402
from nmsim.workloads.ml.pruning.calibrate import CalibBatch, execution_groups  # noqa: E402
from nmsim.workloads.ml.pruning.masks import nm_keep  # noqa: E402
from nmsim.workloads.ml.pruning.sparsegpt import sparsegpt_matrix  # noqa: E402


def mlp(seed: int = 0, k: int = 32) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(k, 64), nn.ReLU(), nn.Linear(64, 16)).eval()


# --- mask helpers ----------------------------------------------------------------------------

def test_nm_keep_along_k_and_n():
    s = torch.tensor([[[4., 1, 3, 2, 0, 9, 8, 7]]])                  # [1, 1, 8]
    assert nm_keep(s, 2, 4, "K").int().tolist() == [[[1, 0, 1, 0, 0, 1, 1, 0]]]
    col = s.transpose(1, 2)                                           # [1, 8, 1]: groups run along N
    assert nm_keep(col, 1, 4, "N").reshape(-1).int().tolist() == [1, 0, 0, 0, 0, 1, 0, 0]


def test_check_mask_catches_overfull_groups_and_wrong_density():
    sp = parse_prune_pattern("2:4")
    good = np.array([[1, 1, 0, 0, 0, 1, 0, 1]], bool)
    assert check_mask(good, sp).max_per_group == 2
    with pytest.raises(MaskCheckError, match="more than 2"):
        check_mask(np.array([[1, 1, 1, 0, 0, 0, 0, 0]], bool), sp)
    with pytest.raises(MaskCheckError, match="is not 2/4"):
        check_mask(np.array([[1, 0, 0, 0, 0, 1, 0, 1]], bool), sp)
    assert check_mask(np.array([[1, 0, 0, 0, 0, 1, 0, 1]], bool), sp, exact=False).density == 3 / 8
    with pytest.raises(MaskCheckError, match="misses the requested"):
        check_mask(np.ones((4, 10), bool), parse_prune_pattern("unstructured:0.5"))


@pytest.mark.parametrize("text", ["dense", "block:4x4:0.5", "unstructured:0"])
def test_patterns_pruning_cannot_make(text):
    with pytest.raises(SpecError):
        parse_prune_pattern(text)


# --- magnitude -------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern", ["2:4", "1:8", "4:8", "2:8@N", "1:4@N"])
def test_magnitude_nm_any_pattern_and_axis(pattern):
    model = mlp()
    masks = prune(model, pattern, "magnitude")
    sp = parse_prune_pattern(pattern)
    for name, mod in prunable_layers(model).items():
        rep = check_mask(masks[name].numpy(), sp, name=name)
        assert rep.density == pytest.approx(sp.n / sp.m)
        assert torch.all(mod.weight[~masks[name]] == 0)
        # magnitude: the smallest kept |w| of a group is >= the largest dropped one
        w = mod.weight.detach().abs()
        g = (w if sp.axis == "K" else w.t()).reshape(-1, sp.m)
        k = (masks[name] if sp.axis == "K" else masks[name].t()).reshape(-1, sp.m)
        kept_min = torch.where(k, g, torch.inf).min(1).values
        dropped_max = torch.where(~k, g, -torch.inf).max(1).values
        assert torch.all(kept_min >= dropped_max)


def test_magnitude_unstructured_per_layer_and_global():
    model = mlp()
    masks = prune(model, "unstructured:0.75", "magnitude", inplace=False)
    for name, mod in prunable_layers(model).items():
        assert masks[name].float().mean().item() == pytest.approx(0.25, abs=1 / masks[name].numel())
        assert torch.count_nonzero(mod.weight) == mod.weight.numel()           # inplace=False: untouched
    w2 = model[2].weight.data                                                   # every |w| > 1 > any of layer 0
    model[2].weight.data = w2.sign() * (1 + w2.abs())                           # global favours big weights
    g = prune(model, "unstructured:0.5", "magnitude-global")
    total = sum(m.numel() for m in g.values())                                  # 2048 + 1024
    assert sum(int(m.sum()) for m in g.values()) == total // 2
    assert g["2"].all() and g["0"].float().mean() == 0.25


def test_pattern_the_layer_cannot_hold_names_layer_and_fix():
    model = nn.Sequential(nn.Conv2d(3, 8, 7), nn.Flatten(), nn.Linear(8, 4))
    with pytest.raises(SpecError, match=r"'0' has K=147, not a multiple of 8.*`skip` '0'"):
        prune(model, "2:8", "magnitude")
    prune(model, "2:8", "magnitude", skip=["0"])                              # skipping it works
    with pytest.raises(SpecError, match="N=4"):
        prune(nn.Sequential(nn.Linear(16, 4)), "2:8@N", "magnitude")


# --- Wanda -----------------------------------------------------------------------------------

def test_wanda_scores_weight_times_input_norm():
    torch.manual_seed(1)
    lin = nn.Linear(8, 4, bias=False)
    model = nn.Sequential(lin)
    x = torch.randn(50, 8) * torch.tensor([10., 1, 1, 1, 0.01, 1, 1, 1])   # inputs of very unequal size
    ref = lin.weight.detach().abs() * x.norm(dim=0)
    masks = prune(model, "unstructured:0.5", "wanda", calibration=[x[:20], x[20:]])
    # per output row, the 4 highest |W| * ||X_j|| survive
    want = torch.zeros_like(ref, dtype=torch.bool).scatter_(1, ref.topk(4, dim=1).indices, True)
    assert torch.equal(masks["0"], want)
    assert masks["0"][:, 0].all() and not masks["0"][:, 4].any()


def test_wanda_padding_rows_do_not_count():
    lin = nn.Linear(4, 2, bias=False)
    x = torch.ones(1, 3, 4)
    x[0, 2] = torch.tensor([1000., 0, 0, 0])                                   # a padding token
    valid = torch.tensor([[True, True, False]])
    torch.manual_seed(0)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1., 2, 3, 4], [4, 3, 2, 1]]))
    masks = prune(nn.Sequential(lin), "2:4", "wanda", calibration=[CalibBatch(args=(x,), valid=valid)])
    assert masks["0"].int().tolist() == [[0, 0, 1, 1], [1, 1, 0, 0]]           # the 1000 was ignored


def test_sequential_groups_share_inputs():
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(8, 8) for _ in range(4))

        def forward(self, x):
            return self.o(self.q(x) + self.k(x) * self.v(x))

    m = Attn()
    groups = execution_groups(m, prunable_layers(m), CalibBatch(args=(torch.randn(2, 8),)))
    assert groups == [["q", "k", "v"], ["o"]]


# --- SparseGPT -------------------------------------------------------------------------------

def test_sparsegpt_identity_hessian_is_magnitude():
    """With H = I the OBS update is zero and the saliency is w^2: SparseGPT = magnitude pruning."""
    torch.manual_seed(0)
    W = torch.randn(16, 64)
    for pat in ("2:4", "unstructured:0.6"):
        sp = parse_prune_pattern(pat)
        new, keep = sparsegpt_matrix(W, torch.eye(64) * 2, sp, blocksize=16, damp=0.0)
        assert torch.equal(new, W * keep)
        if sp.kind == "nm":
            assert torch.equal(keep, nm_keep(W.abs()[None], 2, 4)[0])
        else:
            assert int(keep.sum()) == round(0.4 * W.numel())


def test_sparsegpt_beats_magnitude_on_correlated_inputs():
    torch.manual_seed(0)
    k = 64
    mix = torch.randn(k, k) / k ** 0.5 + torch.eye(k)
    x = torch.randn(512, k) @ mix                                                 # correlated features
    model = nn.Sequential(nn.Linear(k, 32, bias=False))
    dense_out = model(x).detach()
    errs = {}
    for method in ("magnitude", "wanda", "sparsegpt"):
        m = copy.deepcopy(model)
        masks = prune(m, "2:4", method, calibration=[x[:256], x[256:]])
        check_mask(masks["0"].numpy(), parse_prune_pattern("2:4"))
        errs[method] = float(((m(x).detach() - dense_out) ** 2).mean())
    assert errs["sparsegpt"] < 0.8 * errs["magnitude"], errs
    assert errs["sparsegpt"] < errs["wanda"], errs


def test_sparsegpt_refuses_n_axis_and_singular_hessian_is_damped():
    with pytest.raises(SpecError, match="along N is not supported"):
        sparsegpt_matrix(torch.randn(8, 8), torch.eye(8), parse_prune_pattern("2:4@N"))
    x = torch.randn(3, 16)                                                        # rank 3 < 16: singular
    x[:, 5] = 0                                                                   # and a dead input
    H = 2 * x.t() @ x
    new, keep = sparsegpt_matrix(torch.randn(4, 16), H, parse_prune_pattern("2:4"))
    assert torch.isfinite(new).all() and not keep[:, 5].any()


def test_calibration_required_and_not_empty():
    with pytest.raises(SpecError, match="needs calibration"):
        prune(mlp(), "2:4", "wanda")
    with pytest.raises(SpecError, match="empty"):
        prune(mlp(), "2:4", "sparsegpt", calibration=[])


def test_unknown_method():
    with pytest.raises(SpecError, match="did you mean 'wanda'"):
        prune(mlp(), "2:4", "wandaa")


# --- SR-STE and BDWP -------------------------------------------------------------------------

def test_srste_gradient_rule():
    from nmsim.workloads.ml.pruning.srste import attach_srste, finalize_srste

    torch.manual_seed(0)
    lin = nn.Linear(8, 2, bias=False)
    layers = {"lin": lin}
    attach_srste(layers, parse_prune_pattern("2:4"), lam=0.5)
    w = lin.parametrizations.weight.original
    keep = nm_keep(w.detach().abs()[None], 2, 4)[0]
    x = torch.randn(5, 8)
    lin(x).sum().backward()
    # d/dW~ of sum(x W~^T) is sum of x rows; SR-STE adds lambda * (1 - mask) * W
    want = x.sum(0).expand(2, 8) + 0.5 * (~keep) * w.detach()
    assert torch.allclose(w.grad, want)
    masks = finalize_srste(layers)
    assert torch.equal(masks["lin"], keep) and torch.all(lin.weight[~keep] == 0)


@pytest.mark.parametrize("conv", [False, True])
def test_bdwp_forward_along_k_backward_along_n(conv):
    from nmsim.workloads.ml.pruning.bdwp import attach_bdwp, bdwp_masks, finalize_bdwp

    torch.manual_seed(0)
    mod = nn.Conv2d(8, 8, 1, bias=False) if conv else nn.Linear(8, 8, bias=False)
    ref = copy.deepcopy(mod)
    sp = parse_prune_pattern("2:4")
    attach_bdwp({"m": mod}, sp)
    x = torch.randn(3, 8, 2, 2, requires_grad=True) if conv else torch.randn(3, 8, requires_grad=True)
    gy = torch.randn_like(mod(x))
    y = mod(x)
    fwd, bwd = bdwp_masks(mod.weight, 2, 4)
    check_mask(fwd.numpy(), sp)
    check_mask(bwd.numpy(), parse_prune_pattern("2:4@N"))
    (y * gy).sum().backward()
    # forward uses W pruned along K; the input gradient uses W pruned along N; dW is dense
    with torch.no_grad():
        ref.weight.mul_(fwd.reshape(ref.weight.shape))
    assert torch.allclose(y, ref(x), atol=1e-6)
    x2 = x.detach().clone().requires_grad_(True)
    ref_b = copy.deepcopy(ref)
    with torch.no_grad():
        ref_b.weight.copy_(mod.weight * bwd.reshape(mod.weight.shape))
    (ref_b(x2) * gy).sum().backward()
    assert torch.allclose(x.grad, x2.grad, atol=1e-5)
    dense = copy.deepcopy(ref_b)
    with torch.no_grad():
        dense.weight.copy_(mod.weight)
    (dense(x.detach()) * gy).sum().backward()
    assert torch.allclose(mod.weight.grad, dense.weight.grad, atol=1e-5)
    masks = finalize_bdwp({"m": mod}, sp)
    assert torch.equal(masks["m"], fwd) and "forward" not in mod.__dict__


def test_digits_cnn_trains_and_sparse_training_keeps_patterns():
    pytest.importorskip("sklearn")
    from nmsim.workloads.ml import digits_cnn as dc
    from nmsim.workloads.ml.pruning import verify_masks

    data = dc.load_data(0)
    assert len(data.y_train) + len(data.y_test) == 1797
    torch.set_num_threads(1)
    dense, _ = dc.run_experiment("dense", None, data, epochs=3)
    assert dc.accuracy(dense, data.x_test, data.y_test) > 0.8
    for method, pat in (("srste", "2:8"), ("bdwp", "2:8")):
        model, masks = dc.run_experiment(method, parse_prune_pattern(pat), data, epochs=2)
        reports = verify_masks(dc.pruned_layers(model), masks, parse_prune_pattern(pat))
        assert set(reports) == {"conv2", "fc1"}
        assert dc.accuracy(model, data.x_test, data.y_test) > 0.5
    again, _ = dc.run_experiment("dense", None, data, epochs=3)              # seeded: identical
    assert torch.equal(again.fc1.weight, dense.fc1.weight)
