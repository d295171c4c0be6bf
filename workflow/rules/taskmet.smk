# TaskMet: Task-Driven Metric Learning for Model Learning (Bansal, Chen, Mukadam, Amos, NeurIPS 2023).
# Decision-focused learning: prepare (a task's train/val/test instances) -> train (per task, method, seed:
# two-stage MSE, DFL, TaskMet; then normalised DQ and MSE on test, the metrics record and the predictions, in the
# same job: the evaluation takes a fraction of a second, a job of its own would cost seconds of start-up).
# Model-based RL: rl (per agent, number of distractors, seed: CartPole with distractor dimensions, training and
# evaluation in one job). Then table (tables, figures).


include: "taskmet_helpers.smk"


rule taskmet_prepare:
    input:
        unpack(taskmet_prepare_inputs),
    output:
        "results/{scale}/taskmet/data/{task}.npz",
    log:
        "logs/{scale}/taskmet/prepare/{task}.log",
    conda:
        "../envs/taskmet.yaml"
    params:
        data=lookup(dpath="dfl/tasks/{task}/data", within=TASKMET),
    script:
        "../scripts/taskmet/prepare.py"


rule taskmet_train:
    input:
        data="results/{scale}/taskmet/data/{task}.npz",
    output:
        model="results/{scale}/taskmet/models/dfl/{task}/{method}/seed{seed}/model.pt",
        curve="results/{scale}/taskmet/models/dfl/{task}/{method}/seed{seed}/curve.csv",
        record="results/{scale}/taskmet/metrics/dfl/{task}/{method}/seed{seed}.json",
        predictions="results/{scale}/taskmet/predictions/{task}/{method}/seed{seed}.npz",
    log:
        "logs/{scale}/taskmet/train/{task}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/taskmet/train/{task}/{method}/seed{seed}.tsv"
    retries: 1
    conda:
        "../envs/taskmet.yaml"
    threads: TASKMET.get("threads", 1)
    params:
        task=lookup(dpath="dfl/tasks/{task}/task", within=TASKMET),
        train=lookup(dpath="dfl/tasks/{task}/train", within=TASKMET),
        evaluate=paper_config("taskmet", "dfl", "evaluate", default={}),
        scale=SCALE,
        checkpoint_dir=checkpoint_dir("taskmet", "dfl/{task}/{method}/seed{seed}"),
    script:
        "../scripts/taskmet/train.py"


rule taskmet_rl:
    output:
        record="results/{scale}/taskmet/metrics/rl/{agent}/D{distractors}/seed{seed}.json",
        curve="results/{scale}/taskmet/models/rl/{agent}/D{distractors}/seed{seed}/curve.csv",
    log:
        "logs/{scale}/taskmet/rl/{agent}/D{distractors}/seed{seed}.log",
    benchmark:
        "benchmarks/{scale}/taskmet/rl/{agent}/D{distractors}/seed{seed}.tsv"
    wildcard_constraints:
        distractors=r"\d+",
    retries: 1
    conda:
        "../envs/taskmet.yaml"
    threads: TASKMET.get("threads", 1)
    params:
        rl=paper_config("taskmet", "rl", "train", default={}),
        scale=SCALE,
        checkpoint_dir=checkpoint_dir("taskmet", "rl/{agent}/D{distractors}/seed{seed}"),
    script:
        "../scripts/taskmet/rl.py"


rule taskmet_table:
    input:
        records=taskmet_records,
        predictions=taskmet_predictions,
        references=references_path("taskmet"),
    output:
        dfl_csv=report(
            "results/{scale}/taskmet/tables/decision_quality.csv",
            caption="../report/taskmet_table_dfl.rst",
            category="taskmet",
            labels={"table": "normalised DQ and MSE (Table 1)"},
        ),
        dfl_md="results/{scale}/taskmet/tables/decision_quality.md",
        rl_csv=report(
            "results/{scale}/taskmet/tables/rl_distractors.csv",
            caption="../report/taskmet_table_rl.rst",
            category="taskmet",
            labels={"table": "CartPole return vs distractors"},
        ),
        rl_md="results/{scale}/taskmet/tables/rl_distractors.md",
        cubic_figure=report(
            "results/{scale}/taskmet/figures/cubic.png",
            caption="../report/taskmet_figure_cubic.rst",
            category="taskmet",
            labels={"figure": "cubic: predictions and learned metric"},
        ),
        dq_figure=report(
            "results/{scale}/taskmet/figures/decision_quality.png",
            caption="../report/taskmet_figure_dq.rst",
            category="taskmet",
            labels={"figure": "normalised DQ per task and method"},
        ),
        rl_figure=report(
            "results/{scale}/taskmet/figures/rl_distractors.png",
            caption="../report/taskmet_figure_rl.rst",
            category="taskmet",
            labels={"figure": "CartPole return vs distractors"},
        ),
    log:
        "logs/{scale}/taskmet/table.log",
    localrule: True
    conda:
        "../envs/taskmet.yaml"
    params:
        scale=SCALE,
        sources={task: block.get("source") for task, block in taskmet_tasks().items()},
    script:
        "../scripts/taskmet/table.py"


register_wing("taskmet", records=taskmet_records, outputs=rules.taskmet_table.output)


rule taskmet:
    default_target: False
    input:
        wing_outputs("taskmet"),
