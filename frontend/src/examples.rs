//! Starter Polyaxonfiles for the editor's menu: one of each thing a person usually starts from.

/// A named starter file.
pub struct Example {
    /// What the menu shows.
    pub title: &'static str,
    /// The Polyaxonfile.
    pub text: &'static str,
}

pub const EXAMPLES: &[Example] = &[
    Example {
        title: "Training job with inputs",
        text: r#"kind: component
name: train
description: A training loop whose inputs the form below sets.
inputs:
- name: learning_rate
  type: float
  value: 0.01
  isOptional: true
  validation: {gt: 0, le: 1}
- name: epochs
  type: int
  value: 5
  isOptional: true
  validation: {ge: 1, le: 100}
- name: optimizer
  type: str
  value: adam
  isOptional: true
  validation: {options: [adam, sgd, rmsprop]}
run:
  kind: job
  container:
    image: python:3.11
    command: [python3, -u, -c]
    args:
    - |
      import math
      for epoch in range({{ epochs }}):
          loss = math.exp(-{{ learning_rate }} * (epoch + 1))
          print(f"epoch {epoch + 1}: loss={loss:.4f} with {{ optimizer }}")
"#,
    },
    Example {
        title: "Notebook service",
        text: r#"kind: component
name: notebook
description: JupyterLab, reached through Myelin at its base URL.
run:
  kind: service
  ports: [8888]
  container:
    image: quay.io/jupyter/base-notebook:latest
    command: [jupyter, lab]
    args:
    - --no-browser
    - --ip=0.0.0.0
    - --port={{ globals.ports[0] }}
    - --ServerApp.base_url={{ globals.base_url }}
    - --ServerApp.token=
    - --ServerApp.allow_origin=*
"#,
    },
    Example {
        title: "Distributed PyTorch job",
        text: r#"kind: component
name: distributed-train
description: One master and two workers, run by Kubeflow's training operator.
run:
  kind: pytorchjob
  master:
    replicas: 1
    container:
      image: pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime
      command: [python3, -c, "import os; print('master', os.environ.get('RANK'))"]
  worker:
    replicas: 2
    container:
      image: pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime
      command: [python3, -c, "import os; print('worker', os.environ.get('RANK'))"]
"#,
    },
    Example {
        title: "Small DAG",
        text: r#"kind: component
name: pipeline
description: Prepare the data, train, then evaluate and report side by side.
run:
  kind: dag
  operations:
  - name: prepare
    component:
      run: {kind: job, container: {image: python:3.11, command: [python3, -c, "print('prepared')"]}}
  - name: train
    dependencies: [prepare]
    component:
      run: {kind: job, container: {image: python:3.11, command: [python3, -c, "print('trained')"]}}
  - name: evaluate
    dependencies: [train]
    component:
      run: {kind: job, container: {image: python:3.11, command: [python3, -c, "print('evaluated')"]}}
  - name: report
    dependencies: [train]
    component:
      run: {kind: job, container: {image: python:3.11, command: [python3, -c, "print('reported')"]}}
"#,
    },
    Example {
        title: "Grid search",
        text: r#"kind: operation
name: search
matrix:
  kind: grid
  concurrency: 2
  params:
    learning_rate: {kind: choice, value: [0.1, 0.01, 0.001]}
    epochs: {kind: range, value: [2, 8, 2]}
component:
  name: train
  inputs:
  - {name: learning_rate, type: float}
  - {name: epochs, type: int}
  run:
    kind: job
    container:
      image: python:3.11
      command: [python3, -c, "print({{ learning_rate }}, {{ epochs }})"]
"#,
    },
];
