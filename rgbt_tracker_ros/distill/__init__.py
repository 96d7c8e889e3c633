"""CMD's distillation (Sec. 3.3-3.6): one module per loss term and the objective that sums them.

* :mod:`.abf`: ReviewKD's attention-based fusion modules (student -> teacher widths for SCFD);
* :mod:`.scfd`: SEM / CEM teacher targets and L_SCFD (Eq. 1-3);
* :mod:`.mpsd`: L_fus, path selection and the penalty L_p, L_MPSD (Eq. 7-11);
* :mod:`.hfrd`: the corrected teacher response and L_HFRD (Eq. 12-13);
* :mod:`.teachers`: what the terms ask of the teacher, answered by a CMD teacher or an AINet;
* :mod:`.objective`: the training actor of Eq. 14 with the frozen teacher.
* :mod:`.gradients`: how hard each term of Eq. 14 pulls on the student (a diagnostic of a run).
"""
