# examples/metric_analysis.py
# The design document's example 2, as written there. The only changes: the placeholders (server
# URL, project, token) come from the environment, so the file runs against your server as is.
#   ASSAY_API_URL  (default http://localhost:8000)
#   ASSAY_PROJECT  a project UUID or name (the document's placeholder UUID by default)
#   ASSAY_API_KEY  an API key (`assay team create …` prints one)
# Assay keys the comparison by the identifiers you send, so experiment names work verbatim.

import os

import requests
import pandas as pd
from datetime import datetime

# Получить данные для нескольких экспериментов
api_url = os.environ.get("ASSAY_API_URL", "http://localhost:8000")  # changed: placeholder from the environment
project_id = os.environ.get("ASSAY_PROJECT", "550e8400-e29b-41d4-a716-446655440000")  # changed: placeholder from the environment
experiment_ids = [
    "exp-001",
    "exp-002",
    "exp-003",
]

# Получить сравнение
response = requests.post(
    f"{api_url}/api/v1/metrics/compare",
    params={
        "project_id": project_id,
        "experiment_ids": experiment_ids,
    },
    headers={"Authorization": f"Bearer {os.environ.get('ASSAY_API_KEY', 'your-token')}"},  # changed: placeholder from the environment
)

comparison = response.json()

# Преобразовать в DataFrame
data = []
for exp_id, metrics in comparison['experiments'].items():
    for metric_name, values in metrics.items():
        data.append({
            'experiment': exp_id,
            'metric': metric_name,
            'last_value': values['last'],
        })

df = pd.DataFrame(data)
df_pivot = df.pivot(index='metric', columns='experiment', values='last_value')

print(df_pivot)
print("\nImprovement over baseline:")
baseline = df_pivot[experiment_ids[0]]
for exp in experiment_ids[1:]:
    improvement = (df_pivot[exp] - baseline) / baseline * 100
    print(f"\n{exp}:")
    print(improvement)
