# examples/hypothesis_evidence.py
# The design document's example 3, as written there. The changes:
#   - the baseline name: the document says "vit_base_lr_1e5", but the runs it creates are named
#     f"vit_base_lr_{lr}".replace(".", "_") — for lr = 1e-5 that is "vit_base_lr_1e-05". With the
#     document's name, evaluate() raises an APIError (422) naming "vit_base_lr_1e5" and suggesting
#     "vit_base_lr_1e-05".
#   - train_epoch, model and data are stand-ins (a deterministic decaying loss), so the file runs.
# Server and key come from ASSAY_API_URL / ASSAY_API_KEY; the project is created on first use.
#
# What it prints: Testing, evidence 0, confidence 0 — one run per learning rate is no evidence a
# test can stand on (method "single-run": an indicative delta only), and "accuracy" is never
# logged. Three seeds per learning rate (features {'learning_rate': lr, 'seed': s}) give a verdict.

from research_sdk import Experiment, HypothesisEvaluator

model, data = None, None  # changed: stand-ins for the document's model and data


def train_epoch(model, data, lr):  # changed: a stand-in for training
    train_epoch.calls = getattr(train_epoch, "calls", 0) + 1
    epoch = (train_epoch.calls - 1) % 100
    return 2.0 / (1.0 + epoch * lr * 1e3) + 0.1


# Определить гипотезу
hypothesis_manager = HypothesisEvaluator(
    project="vision_transformer",
    hypothesis_id="h-lr-comparison",
    baseline_experiment="vit_base_lr_1e-05",  # changed: the name the loop below gives lr = 1e-5
    target_metrics=["loss", "accuracy"],
)

# Запустить несколько экспериментов с разными LR
lrs = [1e-5, 1e-4, 1e-3]

for lr in lrs:
    exp_name = f"vit_base_lr_{lr}".replace(".", "_")
    
    exp = Experiment(
        project="vision_transformer",
        name=exp_name,
    )
    
    exp.log_features({
        'learning_rate': lr,
    })
    
    # ... обучение ...
    
    for epoch in range(100):
        loss = train_epoch(model, data, lr)
        exp.log_metric("loss", loss, step=epoch)
    
    exp.finish(status="complete")

# Оценить гипотезу
hypothesis_manager.evaluate()
result = hypothesis_manager.get_result()

print(f"Hypothesis Status: {result['status']}")  # Supported/Refuted/Testing
print(f"Evidence Score: {result['evidence_score']}")
print(f"Confidence: {result['confidence']}")
