"""How each chapter is trained, and with which settings: one recipe module per chapter.

=======  ==============================  ==========================================
chapter  module                          jobs (``python -m mmlab.train JOB``)
=======  ==============================  ==========================================
01       :mod:`mmlab.recipes.bow`        ``bow``
02, 03   :mod:`mmlab.recipes.lstm`       ``lstm``, ``distance``
03       :mod:`mmlab.recipes.sort`       ``sort``
04       :mod:`mmlab.recipes.bert_pretraining`  ``bert``
05       :mod:`mmlab.recipes.finetuning` ``finetune``
06       :mod:`mmlab.recipes.gpt`        ``gpt``
07       :mod:`mmlab.align.instruction_tuning`  ``sft``
08       :mod:`mmlab.align.rlhf`         ``reward``, ``dpo``, ``ppo``
09       :mod:`mmlab.recipes.vit`        ``vit``
10       :mod:`mmlab.recipes.fusion`     ``fusion``
11       :mod:`mmlab.recipes.clip`       ``clip``, ``clip_shapes``
12       :mod:`mmlab.recipes.vlm`        ``vlm``
13       :mod:`mmlab.recipes.seq2seq`    ``translate``, ``summarise``
=======  ==============================  ==========================================

:mod:`mmlab.recipes.base` says what a recipe is; :mod:`mmlab.recipes.registry` collects them for the
command line, the bench and the tests.
"""
