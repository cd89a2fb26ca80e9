"""The charter of use Préau ships: version 1 of every school until its admins
publish their own (Markdown; French first, with its English translation)."""

from __future__ import annotations

DEFAULT_FR = """\
# Charte d'utilisation de l'espace numérique de travail

Cet espace numérique de travail (ENT) est un lieu de l'école. Les règles de
la vie scolaire s'y appliquent comme dans la classe et dans la cour.

## Je respecte les autres

- J'écris poliment, comme je parlerais à quelqu'un en face de moi.
- Je ne me moque de personne, je n'insulte personne, je ne menace personne.
- Je ne publie pas de photo, de vidéo ou d'enregistrement d'une autre personne
  sans son accord.
- Si un message me met mal à l'aise, ou met quelqu'un d'autre mal à l'aise, je
  le signale avec le bouton « Signaler » ou j'en parle à un adulte de l'école.

## Le cercle de confiance

Je ne peux écrire qu'aux personnes que l'école a choisies pour moi : ma
classe, mes professeurs, le personnel de l'école, et pour les parents les
professeurs de leurs enfants. Personne en dehors de l'école ne peut me
contacter ici. Je ne cherche pas à contourner ces règles.

## Mes données personnelles

- Mon identifiant et mon mot de passe sont personnels : je ne les donne à
  personne et je me déconnecte sur un ordinateur partagé.
- Je ne publie pas d'adresse, de numéro de téléphone ou d'autre information
  privée, ni sur moi ni sur les autres.
- L'école garde mes messages et mes documents pendant une durée limitée. Mes
  parents ou moi pouvons demander à les consulter, à en obtenir une copie ou à
  les faire effacer, auprès de la direction de l'école.

## Ce que peuvent faire les modérateurs

Les professeurs et le personnel de l'école veillent au bon usage de l'ENT. Ils
peuvent :

- mettre un salon en lecture seule ou relire les messages avant leur
  publication ;
- supprimer un message qui ne respecte pas cette charte ;
- empêcher quelqu'un d'écrire pendant un temps, ou le retirer d'un salon ;
- traiter les signalements.

Chacune de ces actions est enregistrée dans le journal de l'école, que la
direction peut consulter.

## Si je ne respecte pas la charte

Les sanctions prévues par le règlement intérieur de l'école s'appliquent.

En cliquant sur « J'accepte », je déclare avoir lu cette charte (ou me l'être
fait lire) et je m'engage à la respecter.
"""

DEFAULT_EN = """\
# Charter of use of the digital workspace

This digital workspace is a place of the school. The rules of school life
apply here as they do in the classroom and in the playground.

## I respect others

- I write politely, as I would speak to someone in front of me.
- I do not mock, insult or threaten anyone.
- I do not post a photo, video or recording of another person without their
  consent.
- If a message makes me or someone else uncomfortable, I report it with the
  "Report" button or I tell an adult at school.

## The circle of trust

I can only write to the people the school chose for me: my class, my
teachers, the school's staff, and for parents their children's teachers.
Nobody outside the school can contact me here. I do not try to get around
these rules.

## My personal data

- My login and password are mine alone: I give them to nobody and I log out
  on a shared computer.
- I do not post an address, a phone number or any other private information,
  about me or about others.
- The school keeps my messages and documents for a limited time. My parents or
  I can ask the school's head to see them, get a copy of them or have them
  erased.

## What moderators may do

Teachers and the school's staff look after the proper use of the workspace.
They may:

- make a room read-only or read messages before they are posted;
- delete a message that breaks this charter;
- stop someone from writing for a while, or remove them from a room;
- handle reports.

Each of these actions is recorded in the school's log, which the head of the
school may read.

## If I break the charter

The sanctions of the school's rules apply.

By clicking "I accept", I declare that I have read this charter (or had it
read to me) and I undertake to respect it.
"""
