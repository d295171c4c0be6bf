"""Helpers of the tokenbounds rules (workflow/rules/tokenbounds.smk): its config, method configs, records."""

TOKENBOUNDS = paper_config("tokenbounds")


def tokenbounds_runs():
    """(method, seed) of every run at this scale (run_seeds, common.smk)."""
    block = TOKENBOUNDS.get("experiment", {})
    return [
        (method, seed)
        for method in block.get("methods", {})
        for seed in run_seeds(block)
    ]


def tokenbounds_corpus():
    """The from-scratch rows' training corpus: the stdlib (tiny) or OpenWebText (full)."""
    return TOKENBOUNDS.get("experiment", {}).get("corpus", "stdlib")


def tokenbounds_method_config(wildcards):
    """kind, arch, train and evaluate of one method, and the model's vocabulary (corpus.vocab_size)."""
    block = TOKENBOUNDS["experiment"]
    return {
        "kind": block["methods"][wildcards.method]["kind"],
        "vocab_size": TOKENBOUNDS["corpus"]["vocab_size"],
        "arch": block["arch"],
        "train": block["train"],
        "evaluate": block["evaluate"],
    }


def tokenbounds_pretrained():
    """The pretrained models of the post-training-quantization rows (full scale), name -> hub spec."""
    return TOKENBOUNDS.get("pretrained", {}).get("models", {})


def tokenbounds_hub_dir(name):
    spec = tokenbounds_pretrained()[name]
    return hub_model_dir("tokenbounds", spec["repo_id"], spec["revision"])


def tokenbounds_openwebtext_inputs(wildcards):
    """The OpenWebText subset tars and the snapshot whose tokenizer reads them."""
    return {
        "subsets": [
            source_file("tokenbounds", name)
            for name in sorted(TOKENBOUNDS.get("sources", {}))
        ],
        "tokenizer": tokenbounds_hub_dir(TOKENBOUNDS["pretrained"]["tokenizer"]),
    }


def tokenbounds_ptq_snapshot(wildcards):
    return tokenbounds_hub_dir(wildcards.model)


def tokenbounds_records(wildcards=None):
    scratch = [
        f"results/{SCALE}/tokenbounds/metrics/{tokenbounds_corpus()}/{method}/seed{seed}.json"
        for method, seed in tokenbounds_runs()
    ]
    pretrained = [
        f"results/{SCALE}/tokenbounds/metrics/openwebtext_pretrained/{model}/seed0.json"
        for model in tokenbounds_pretrained()
    ]
    return scratch + pretrained
